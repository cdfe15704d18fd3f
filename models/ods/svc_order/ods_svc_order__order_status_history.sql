{{ config(materialized='incremental', unique_key='status_change_id') }}

with

source as (
    select * from {{ lake_table('svc_order', 'order_status_history') }}
),

current_rows as (
    {{ latest_version('source', 'id', 'gmt_create') }}
),

renamed as (
    select
        cast(id as bigint) as status_change_id,
        cast(order_id as bigint) as order_id,
        cast(from_status as smallint) as from_status_code,
        cast(to_status as smallint) as to_status_code,
        cast(operator_role as varchar) as operator_role,
        cast(operator_id as bigint) as operator_id,
        cast(gmt_create as timestamp) as created_at,
        dt as lake_dt
    from current_rows
)

select * from renamed
