{#- The order funnel by the day orders were posted (cohort): how many of that day's orders were
    assigned, completed or cancelled (so far), the conversion rates and the time to assign. -#}
with

orders as (
    select * from {{ ref('dw_fct_orders') }}
),

cohorts as (
    select
        created_date as dt,
        city_code,
        category_code,
        count(order_id) as orders_created,
        count(assigned_at) as cohort_orders_assigned,
        count(completed_at) as cohort_orders_completed,
        count(cancelled_at) as cohort_orders_cancelled,
        avg(minutes_to_assign) as avg_minutes_to_assign
    from orders
    group by all
),

final as (
    select
        dt,
        city_code,
        category_code,
        cast(orders_created as bigint) as orders_created,
        cast(cohort_orders_assigned as bigint) as cohort_orders_assigned,
        cast(cohort_orders_completed as bigint) as cohort_orders_completed,
        cast(cohort_orders_cancelled as bigint) as cohort_orders_cancelled,
        cast(cohort_orders_assigned / nullif(orders_created, 0) as decimal(9, 4))
            as cohort_assign_rate,
        cast(cohort_orders_completed / nullif(orders_created, 0) as decimal(9, 4))
            as cohort_completion_rate,
        cast(avg_minutes_to_assign as decimal(12, 2)) as avg_minutes_to_assign
    from cohorts
)

select * from final
