{#- Merchant retention (商家留存) by weekly cohort: merchants whose first order in the warehouse
    fell in cohort_week, and how many of them posted an order N weeks later. -#}
with

orders as (
    select * from {{ ref('dw_fct_orders') }}
),

merchant_weeks as (
    select distinct
        merchant_id,
        cast(date_trunc('week', created_date) as date) as activity_week
    from orders
),

first_weeks as (
    select merchant_id, min(activity_week) as cohort_week
    from merchant_weeks
    group by merchant_id
),

cohort_sizes as (
    select cohort_week, count(*) as cohort_merchants
    from first_weeks
    group by cohort_week
),

activity as (
    select
        first_weeks.cohort_week,
        cast(date_diff('week', first_weeks.cohort_week, merchant_weeks.activity_week) as integer)
            as weeks_since_first,
        count(distinct merchant_weeks.merchant_id) as active_merchants
    from merchant_weeks
    inner join first_weeks on merchant_weeks.merchant_id = first_weeks.merchant_id
    group by all
),

final as (
    select
        activity.cohort_week,
        activity.weeks_since_first,
        cast(cohort_sizes.cohort_merchants as bigint) as cohort_merchants,
        cast(activity.active_merchants as bigint) as active_merchants,
        cast(activity.active_merchants / cohort_sizes.cohort_merchants as decimal(9, 4))
            as retention_rate
    from activity
    inner join cohort_sizes on activity.cohort_week = cohort_sizes.cohort_week
)

select * from final
