with

regions as (
    select * from {{ ref('ods_shifu__region') }}
),

final as (
    select
        region_id,
        province_name,
        city_name,
        city_code,
        district_name,
        lat,
        lng
    from regions
)

select * from final
