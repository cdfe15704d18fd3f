{{ config(materialized='incremental', unique_key='complaint_id') }}

with

source as (
    select * from {{ lake_table('shifu', 'complaint') }}
),

current_rows as (
    {{ latest_version('source', 'id', 'updated_at') }}
),

renamed as (
    select
        cast(id as bigint) as complaint_id,
        cast(order_id as bigint) as order_id,
        cast(master_id as bigint) as master_id,
        cast(complainant_role as varchar) as complainant_role,
        cast(complaint_type as varchar) as complaint_type,
        {{ pii_free_text('content') }} as content,
        cast(status as varchar) as complaint_status,
        cast(resolution as varchar) as resolution,
        cast(resolved_at as timestamp) as resolved_at,
        cast(created_at as timestamp) as created_at,
        cast(updated_at as timestamp) as updated_at,
        dt as lake_dt
    from current_rows
)

select * from renamed
