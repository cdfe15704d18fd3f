{#- One row per order: its current status, life-cycle timestamps and durations. -#}
with

orders as (
    select * from {{ ref('int_orders_unioned') }}
),

regions as (
    select * from {{ ref('dw_dim_regions') }}
),

categories as (
    select * from {{ ref('dw_dim_service_categories') }}
),

final as (
    select
        orders.order_id,
        orders.order_no,
        orders.merchant_id,
        orders.customer_id,
        orders.master_id,
        orders.category_id,
        categories.category_code,
        orders.region_id,
        regions.city_code,
        orders.service_district,
        orders.dispatch_mode,
        orders.order_status,
        orders.order_amount_yuan,
        orders.cancel_reason,
        orders.is_deleted,
        orders.appointment_start_at,
        orders.appointment_end_at,
        orders.created_at,
        orders.assigned_at,
        orders.scheduled_at,
        orders.service_started_at,
        orders.finished_at,
        orders.completed_at,
        orders.cancelled_at,
        orders.updated_at,
        cast(orders.created_at as date) as created_date,
        cast(orders.completed_at as date) as completed_date,
        cast(orders.cancelled_at as date) as cancelled_date,
        cast(orders.service_started_at as date) as service_started_date,
        cast(date_diff('second', orders.created_at, orders.assigned_at) / 60.0 as decimal(12, 2))
            as minutes_to_assign,
        cast(date_diff('second', orders.created_at, orders.completed_at) / 60.0 as decimal(12, 2))
            as minutes_to_complete,
        cast(
            date_diff('second', orders.service_started_at, orders.finished_at) / 60.0
            as decimal(12, 2)
        ) as minutes_in_service,
        -- On time: the master checked in within the appointment slot (docs/business.md).
        case
            when orders.service_started_at is null then null
            else orders.service_started_at <= orders.appointment_end_at
        end as is_on_time
    from orders
    left join regions on orders.region_id = regions.region_id
    left join categories on orders.category_id = categories.category_id
)

select * from final
