{{ config(materialized='incremental', unique_key='status_change_id') }}

with

source as (
    select * from {{ lake_table('shifu', 'order_status_log') }}
),

current_rows as (
    {{ latest_version('source', 'id', 'created_at') }}
),

renamed as (
    select
        cast(id as bigint) as status_change_id,
        cast(order_id as bigint) as order_id,
        cast(from_status as varchar) as from_status,
        cast(to_status as varchar) as to_status,
        cast(operator_role as varchar) as operator_role,
        cast(operator_id as bigint) as operator_id,
        cast(created_at as timestamp) as created_at,
        dt as lake_dt
    from current_rows
)

select * from renamed
