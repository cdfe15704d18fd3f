{#- Sessions (会话) by platform and day: count, average length, bounces. -#}
with

sessions as (
    select * from {{ ref('dw_fct_sessions') }}
),

final as (
    select
        session_dt as dt,
        platform,
        cast(count(session_id) as bigint) as sessions,
        cast(avg(duration_seconds) as decimal(12, 2)) as avg_session_seconds,
        cast(sum(case when is_bounce then 1 else 0 end) as bigint) as bounce_sessions,
        cast(
            sum(case when is_bounce then 1 else 0 end) / count(session_id) as decimal(9, 4)
        ) as bounce_rate,
        cast(sum(page_views) as bigint) as page_views
    from sessions
    group by all
)

select * from final
