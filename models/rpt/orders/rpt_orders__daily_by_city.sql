{#- The day's order figures by city and leaf category, each counted on the day it happened:
    created by created_at, completed by completed_at, cancelled by cancelled_at, complaints by
    their created_at (truth/dt=D.json reconciles with this model). -#}
with

orders as (
    select * from {{ ref('dw_fct_orders') }}
),

complaints as (
    select * from {{ ref('dw_fct_complaints') }}
),

created as (
    select created_date as dt, city_code, category_code, count(order_id) as orders_created
    from orders
    group by all
),

completed as (
    select
        completed_date as dt,
        city_code,
        category_code,
        count(completed_at) as orders_completed,
        avg(minutes_to_complete) as avg_minutes_to_complete
    from orders
    where completed_at is not null
    group by all
),

cancelled as (
    select cancelled_date as dt, city_code, category_code, count(cancelled_at) as orders_cancelled
    from orders
    where cancelled_at is not null
    group by all
),

complained as (
    select created_date as dt, city_code, category_code, count(complaint_id) as complaints
    from complaints
    group by all
),

grain as (
    select dt, city_code, category_code from created
    union
    select dt, city_code, category_code from completed
    union
    select dt, city_code, category_code from cancelled
    union
    select dt, city_code, category_code from complained
),

final as (
    select
        grain.dt,
        grain.city_code,
        grain.category_code,
        cast(coalesce(created.orders_created, 0) as bigint) as orders_created,
        cast(coalesce(completed.orders_completed, 0) as bigint) as orders_completed,
        cast(coalesce(cancelled.orders_cancelled, 0) as bigint) as orders_cancelled,
        cast(coalesce(complained.complaints, 0) as bigint) as complaints,
        cast(
            coalesce(cancelled.orders_cancelled, 0) / nullif(coalesce(created.orders_created, 0), 0)
            as decimal(9, 4)
        ) as cancellation_rate,
        cast(
            coalesce(complained.complaints, 0) / nullif(coalesce(completed.orders_completed, 0), 0)
            as decimal(9, 4)
        ) as complaint_rate,
        cast(completed.avg_minutes_to_complete as decimal(12, 2)) as avg_minutes_to_complete
    from grain
    left join created using (dt, city_code, category_code)
    left join completed using (dt, city_code, category_code)
    left join cancelled using (dt, city_code, category_code)
    left join complained using (dt, city_code, category_code)
)

select * from final
