with

source as (
    select * from {{ lake_table('shifu', 'region', newest_only=true) }}
),

current_rows as (
    {{ latest_snapshot('source') }}
),

renamed as (
    select
        cast(id as bigint) as region_id,
        cast(province as varchar) as province_name,
        cast(city as varchar) as city_name,
        cast(city_code as varchar) as city_code,
        cast(district as varchar) as district_name,
        cast(lat as decimal(9, 6)) as lat,
        cast(lng as decimal(9, 6)) as lng,
        cast(created_at as timestamp) as created_at,
        cast(updated_at as timestamp) as updated_at,
        dt as lake_dt
    from current_rows
)

select * from renamed
