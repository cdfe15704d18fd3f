with

merchants as (
    select * from {{ ref('ods_shifu__merchant') }}
),

regions as (
    select * from {{ ref('dw_dim_regions') }}
),

final as (
    select
        merchants.merchant_id,
        merchants.user_id,
        merchants.merchant_name,
        merchants.merchant_type,
        merchants.region_id,
        regions.city_code,
        merchants.contact_name_token,
        merchants.contact_phone_token,
        merchants.merchant_level,
        merchants.is_deleted,
        merchants.created_at,
        merchants.updated_at,
        -- Observed at the end of the newest lake day: the SCD2 snapshot's valid-from.
        (
            select cast(max(all_merchants.lake_dt) as timestamp) + interval 1 day
            from merchants as all_merchants
        ) as observed_at
    from merchants
    left join regions on merchants.region_id = regions.region_id
)

select * from final
