with

source as (
    select * from {{ lake_table('shifu', 'master_quote', newest_only=true) }}
),

current_rows as (
    {{ latest_snapshot('source') }}
),

renamed as (
    select
        cast(id as bigint) as quote_id,
        cast(order_id as bigint) as order_id,
        cast(master_id as bigint) as master_id,
        {{ yuan('amount') }} as quote_amount_yuan,
        cast(distance_m as integer) as distance_m,
        cast(status as varchar) as quote_status,
        cast(created_at as timestamp) as created_at,
        cast(updated_at as timestamp) as updated_at,
        dt as lake_dt
    from current_rows
)

select * from renamed
