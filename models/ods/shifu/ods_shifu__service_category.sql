with

source as (
    select * from {{ lake_table('shifu', 'service_category', newest_only=true) }}
),

current_rows as (
    {{ latest_snapshot('source') }}
),

renamed as (
    select
        cast(id as bigint) as category_id,
        cast(parent_id as bigint) as parent_category_id,
        cast(code as varchar) as category_code,
        cast(name_zh as varchar) as category_name_zh,
        cast(name_en as varchar) as category_name_en,
        {{ yuan('base_price') }} as base_price_yuan,
        cast(platform_fee_rate as decimal(5, 4)) as platform_fee_rate,
        cast(created_at as timestamp) as created_at,
        cast(updated_at as timestamp) as updated_at,
        dt as lake_dt
    from current_rows
)

select * from renamed
