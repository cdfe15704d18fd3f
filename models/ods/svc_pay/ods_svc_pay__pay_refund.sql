{{ config(materialized='incremental', unique_key='refund_id') }}

with

source as (
    select * from {{ lake_table('svc_pay', 'pay_refund') }}
),

current_rows as (
    {{ latest_version('source', 'id', 'gmt_modified') }}
),

renamed as (
    select
        cast(id as bigint) as refund_id,
        cast(refund_no as varchar) as refund_no,
        cast(order_id as bigint) as order_id,
        cast(pay_id as bigint) as payment_id,
        cast(refund_amount_fen as bigint) as refund_amount_fen,
        cast(reason as varchar) as refund_reason,
        cast(refund_status as smallint) as refund_status_code,
        cast(refund_time as timestamp) as refunded_at,
        cast(gmt_create as timestamp) as created_at,
        cast(gmt_modified as timestamp) as updated_at,
        dt as lake_dt
    from current_rows
)

select * from renamed
