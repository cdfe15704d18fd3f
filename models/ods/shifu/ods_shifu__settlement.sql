{{ config(materialized='incremental', unique_key='settlement_id') }}

with

source as (
    select * from {{ lake_table('shifu', 'settlement') }}
),

current_rows as (
    {{ latest_version('source', 'id', 'updated_at') }}
),

renamed as (
    select
        cast(id as bigint) as settlement_id,
        cast(order_id as bigint) as order_id,
        cast(master_id as bigint) as master_id,
        {{ yuan('gross_amount') }} as gross_amount_yuan,
        {{ yuan('platform_fee') }} as platform_fee_yuan,
        {{ yuan('net_amount') }} as net_amount_yuan,
        cast(status as varchar) as settlement_status,
        cast(settled_at as timestamp) as settled_at,
        cast(created_at as timestamp) as created_at,
        cast(updated_at as timestamp) as updated_at,
        dt as lake_dt
    from current_rows
)

select * from renamed
