{{ config(materialized='incremental', unique_key='settlement_id') }}

with

source as (
    select * from {{ lake_table('svc_pay', 'pay_settlement') }}
),

current_rows as (
    {{ latest_version('source', 'id', 'gmt_modified') }}
),

renamed as (
    select
        cast(id as bigint) as settlement_id,
        cast(order_id as bigint) as order_id,
        cast(master_id as bigint) as master_id,
        cast(gross_fen as bigint) as gross_amount_fen,
        cast(fee_fen as bigint) as platform_fee_fen,
        cast(net_fen as bigint) as net_amount_fen,
        cast(settle_status as smallint) as settlement_status_code,
        cast(settle_time as timestamp) as settled_at,
        cast(gmt_create as timestamp) as created_at,
        cast(gmt_modified as timestamp) as updated_at,
        dt as lake_dt
    from current_rows
)

select * from renamed
