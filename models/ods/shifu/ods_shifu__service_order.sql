{{ config(materialized='incremental', unique_key='order_id') }}

with

source as (
    select * from {{ lake_table('shifu', 'service_order') }}
),

current_rows as (
    {{ latest_version('source', 'id', 'updated_at') }}
),

renamed as (
    select
        cast(id as bigint) as order_id,
        cast(order_no as varchar) as order_no,
        cast(merchant_id as bigint) as merchant_id,
        cast(customer_id as bigint) as customer_id,
        cast(category_id as bigint) as category_id,
        cast(region_id as bigint) as region_id,
        {{ pii_address('service_address') }} as service_district,
        cast(lat as decimal(9, 6)) as lat,
        cast(lng as decimal(9, 6)) as lng,
        cast(dispatch_mode as varchar) as dispatch_mode,
        cast(status as varchar) as order_status,
        {{ yuan('order_amount') }} as order_amount_yuan,
        cast(master_id as bigint) as master_id,
        cast(appointment_start as timestamp) as appointment_start_at,
        cast(appointment_end as timestamp) as appointment_end_at,
        {{ pii_free_text('remark') }} as remark,
        cast(cancel_reason as varchar) as cancel_reason,
        cast(assigned_at as timestamp) as assigned_at,
        cast(scheduled_at as timestamp) as scheduled_at,
        cast(service_started_at as timestamp) as service_started_at,
        cast(finished_at as timestamp) as finished_at,
        cast(completed_at as timestamp) as completed_at,
        cast(cancelled_at as timestamp) as cancelled_at,
        cast(created_at as timestamp) as created_at,
        cast(updated_at as timestamp) as updated_at,
        cast(is_deleted as boolean) as is_deleted,
        dt as lake_dt
    from current_rows
)

select * from renamed
