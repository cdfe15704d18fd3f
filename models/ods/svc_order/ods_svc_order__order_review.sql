with

source as (
    select * from {{ lake_table('svc_order', 'order_review', newest_only=true) }}
),

current_rows as (
    {{ latest_snapshot('source') }}
),

renamed as (
    select
        cast(id as bigint) as review_id,
        cast(order_id as bigint) as order_id,
        cast(master_id as bigint) as master_id,
        cast(customer_id as bigint) as customer_id,
        cast(score as integer) as score,
        {{ pii_free_text('content') }} as content,
        cast(gmt_create as timestamp) as created_at,
        dt as lake_dt
    from current_rows
)

select * from renamed
