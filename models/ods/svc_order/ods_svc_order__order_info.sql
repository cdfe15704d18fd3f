{{ config(materialized='incremental', unique_key='order_id') }}

with

source as (
    select * from {{ lake_table('svc_order', 'order_info') }}
),

current_rows as (
    {{ latest_version('source', 'id', 'gmt_modified') }}
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
        cast(latitude as decimal(9, 6)) as lat,
        cast(longitude as decimal(9, 6)) as lng,
        cast(dispatch_mode as varchar) as dispatch_mode,
        cast(order_status as smallint) as order_status_code,
        cast(order_amount_fen as bigint) as order_amount_fen,
        cast(master_id as bigint) as master_id,
        cast(appointment_start as timestamp) as appointment_start_at,
        cast(appointment_end as timestamp) as appointment_end_at,
        {{ pii_free_text('remark') }} as remark,
        cast(cancel_reason as varchar) as cancel_reason,
        cast(assigned_time as timestamp) as assigned_at,
        cast(scheduled_time as timestamp) as scheduled_at,
        cast(service_start_time as timestamp) as service_started_at,
        cast(finish_time as timestamp) as finished_at,
        cast(complete_time as timestamp) as completed_at,
        cast(cancel_time as timestamp) as cancelled_at,
        cast(gmt_create as timestamp) as created_at,
        cast(gmt_modified as timestamp) as updated_at,
        cast(deleted as boolean) as is_deleted,
        dt as lake_dt
    from current_rows
)

select * from renamed
