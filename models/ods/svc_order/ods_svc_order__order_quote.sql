with

source as (
    select * from {{ lake_table('svc_order', 'order_quote', newest_only=true) }}
),

current_rows as (
    {{ latest_snapshot('source') }}
),

renamed as (
    select
        cast(id as bigint) as quote_id,
        cast(order_id as bigint) as order_id,
        cast(master_id as bigint) as master_id,
        cast(quote_amount_fen as bigint) as quote_amount_fen,
        cast(distance_m as integer) as distance_m,
        cast(quote_status as varchar) as quote_status,
        cast(gmt_create as timestamp) as created_at,
        cast(gmt_modified as timestamp) as updated_at,
        dt as lake_dt
    from current_rows
)

select * from renamed
