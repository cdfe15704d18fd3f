{{ config(materialized='incremental', unique_key='dispatch_id') }}

with

source as (
    select * from {{ lake_table('svc_order', 'order_dispatch') }}
),

current_rows as (
    {{ latest_version('source', 'id', 'gmt_modified') }}
),

renamed as (
    select
        cast(id as bigint) as dispatch_id,
        cast(order_id as bigint) as order_id,
        cast(master_id as bigint) as master_id,
        cast(dispatch_type as varchar) as dispatch_type,
        cast(distance_m as integer) as distance_m,
        cast(dispatch_result as varchar) as dispatch_result,
        cast(dispatch_time as timestamp) as dispatched_at,
        cast(respond_time as timestamp) as responded_at,
        cast(gmt_create as timestamp) as created_at,
        cast(gmt_modified as timestamp) as updated_at,
        dt as lake_dt
    from current_rows
)

select * from renamed
