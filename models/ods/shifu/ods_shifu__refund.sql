{{ config(materialized='incremental', unique_key='refund_id') }}

with

source as (
    select * from {{ lake_table('shifu', 'refund') }}
),

current_rows as (
    {{ latest_version('source', 'id', 'updated_at') }}
),

renamed as (
    select
        cast(id as bigint) as refund_id,
        cast(refund_no as varchar) as refund_no,
        cast(order_id as bigint) as order_id,
        cast(payment_id as bigint) as payment_id,
        {{ yuan('amount') }} as refund_amount_yuan,
        cast(reason as varchar) as refund_reason,
        cast(status as varchar) as refund_status,
        cast(refunded_at as timestamp) as refunded_at,
        cast(created_at as timestamp) as created_at,
        cast(updated_at as timestamp) as updated_at,
        dt as lake_dt
    from current_rows
)

select * from renamed
