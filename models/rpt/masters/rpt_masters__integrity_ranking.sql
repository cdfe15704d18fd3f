{#- The master integrity ranking (师傅诚信榜), over the whole history in the warehouse: service
    count, ratings, complaints and punctuality per master, combined into one score:
    integrity_score = 40 x average score / 5 + 30 x on-time rate + 30 x (1 - min(1, 10 x
    complaint rate)), 0-100. Ranked among masters with at least one completed service. -#}
with

masters as (
    select * from {{ ref('dw_dim_masters') }}
),

orders as (
    select * from {{ ref('dw_fct_orders') }}
),

reviews as (
    select * from {{ ref('dw_fct_reviews') }}
),

complaints as (
    select * from {{ ref('dw_fct_complaints') }}
),

services as (
    select
        master_id,
        count(service_started_at) as services_started,
        count(completed_at) as services_completed,
        sum(case when is_on_time then 1 else 0 end) as services_on_time
    from orders
    where master_id is not null
    group by master_id
),

ratings as (
    select master_id, count(review_id) as reviews, sum(score) as review_score_sum
    from reviews
    group by master_id
),

complained as (
    select master_id, count(complaint_id) as complaints
    from complaints
    group by master_id
),

measured as (
    select
        masters.master_id,
        masters.city_code,
        masters.credit_level,
        services.services_completed,
        coalesce(ratings.reviews, 0) as reviews,
        ratings.review_score_sum / nullif(ratings.reviews, 0) as average_review_score,
        coalesce(complained.complaints, 0) as complaints,
        coalesce(complained.complaints, 0) / nullif(services.services_completed, 0)
            as complaint_rate,
        services.services_on_time / nullif(services.services_started, 0) as on_time_rate
    from masters
    inner join services on masters.master_id = services.master_id
    left join ratings on masters.master_id = ratings.master_id
    left join complained on masters.master_id = complained.master_id
    where services.services_completed > 0
),

scored as (
    select
        *,
        40 * coalesce(average_review_score, 5) / 5
        + 30 * coalesce(on_time_rate, 1)
        + 30 * (1 - least(1, 10 * complaint_rate)) as integrity_score
    from measured
),

final as (
    select
        master_id,
        city_code,
        cast(credit_level as integer) as credit_level,
        cast(services_completed as bigint) as services_completed,
        cast(reviews as bigint) as reviews,
        cast(average_review_score as decimal(9, 4)) as average_review_score,
        cast(complaints as bigint) as complaints,
        cast(complaint_rate as decimal(9, 4)) as complaint_rate,
        cast(on_time_rate as decimal(9, 4)) as on_time_rate,
        cast(integrity_score as decimal(9, 2)) as integrity_score,
        cast(
            rank() over (order by integrity_score desc, services_completed desc, master_id)
            as bigint
        ) as integrity_rank
    from scored
)

select * from final
