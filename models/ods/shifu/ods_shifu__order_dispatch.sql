{{ config(materialized='incremental', unique_key='dispatch_id') }}

with

source as (
    select * from {{ lake_table('shifu', 'order_dispatch') }}
),

current_rows as (
    {{ latest_version('source', 'id', 'updated_at') }}
),

renamed as (
    select
        cast(id as bigint) as dispatch_id,
        cast(order_id as bigint) as order_id,
        cast(master_id as bigint) as master_id,
        cast(dispatch_type as varchar) as dispatch_type,
        cast(distance_m as integer) as distance_m,
        cast(result as varchar) as dispatch_result,
        cast(dispatched_at as timestamp) as dispatched_at,
        cast(responded_at as timestamp) as responded_at,
        cast(created_at as timestamp) as created_at,
        cast(updated_at as timestamp) as updated_at,
        dt as lake_dt
    from current_rows
)

select * from renamed
