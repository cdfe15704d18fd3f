{#- Master activity per day: active masters (distinct masters who started a service that day),
    services started, punctuality, utilisation (services per active master) and the reviews
    (ratings) masters received that day, and the masters who joined (新入驻师傅). -#}
with

orders as (
    select * from {{ ref('dw_fct_orders') }}
),

reviews as (
    select * from {{ ref('dw_fct_reviews') }}
),

masters as (
    select * from {{ ref('dw_dim_masters') }}
),

started as (
    select
        service_started_date as dt,
        count(distinct master_id) as active_masters,
        count(service_started_at) as services_started,
        sum(case when is_on_time then 1 else 0 end) as services_on_time
    from orders
    where service_started_at is not null
    group by all
),

reviewed as (
    select
        created_date as dt,
        count(review_id) as reviews,
        sum(score) as review_score_sum
    from reviews
    group by all
),

joined as (
    select
        cast(created_at as date) as dt,
        count(master_id) as new_masters
    from masters
    group by all
),

grain as (
    select dt from started
    union
    select dt from reviewed
    union
    select dt from joined
),

final as (
    select
        grain.dt,
        cast(coalesce(started.active_masters, 0) as bigint) as active_masters,
        cast(coalesce(started.services_started, 0) as bigint) as services_started,
        cast(coalesce(started.services_on_time, 0) as bigint) as services_on_time,
        cast(started.services_on_time / nullif(started.services_started, 0) as decimal(9, 4))
            as on_time_rate,
        cast(started.services_started / nullif(started.active_masters, 0) as decimal(9, 4))
            as jobs_per_active_master,
        cast(coalesce(reviewed.reviews, 0) as bigint) as reviews,
        cast(coalesce(reviewed.review_score_sum, 0) as bigint) as review_score_sum,
        cast(reviewed.review_score_sum / nullif(reviewed.reviews, 0) as decimal(9, 4))
            as average_review_score,
        cast(coalesce(joined.new_masters, 0) as bigint) as new_masters
    from grain
    left join started using (dt)
    left join reviewed using (dt)
    left join joined using (dt)
)

select * from final
