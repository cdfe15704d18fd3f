{{ config(materialized='incremental', unique_key='payment_id') }}

with

source as (
    select * from {{ lake_table('svc_pay', 'pay_order') }}
),

current_rows as (
    {{ latest_version('source', 'id', 'gmt_modified') }}
),

renamed as (
    select
        cast(id as bigint) as payment_id,
        cast(pay_no as varchar) as payment_no,
        cast(order_id as bigint) as order_id,
        cast(merchant_id as bigint) as merchant_id,
        cast(amount_fen as bigint) as amount_fen,
        cast(pay_channel as varchar) as pay_channel,
        cast(pay_status as smallint) as payment_status_code,
        cast(pay_time as timestamp) as paid_at,
        cast(gmt_create as timestamp) as created_at,
        cast(gmt_modified as timestamp) as updated_at,
        dt as lake_dt
    from current_rows
)

select * from renamed
