{{ config(materialized='incremental', unique_key='payment_id') }}

with

source as (
    select * from {{ lake_table('shifu', 'payment') }}
),

current_rows as (
    {{ latest_version('source', 'id', 'updated_at') }}
),

renamed as (
    select
        cast(id as bigint) as payment_id,
        cast(payment_no as varchar) as payment_no,
        cast(order_id as bigint) as order_id,
        cast(merchant_id as bigint) as merchant_id,
        {{ yuan('amount') }} as amount_yuan,
        cast(channel as varchar) as pay_channel,
        cast(status as varchar) as payment_status,
        cast(paid_at as timestamp) as paid_at,
        cast(created_at as timestamp) as created_at,
        cast(updated_at as timestamp) as updated_at,
        dt as lake_dt
    from current_rows
)

select * from renamed
