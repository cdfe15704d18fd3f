{#- One row per session (会话): a person's events on one platform with no gap over 30
    minutes, within one event day (dw_fct_events). Incremental like dw_fct_events. -#}
with

events as (
    select * from {{ ref('dw_fct_events') }}
    where event_dt >= {{ recompute_from('session_dt', var('late_event_days')) }}
),

final as (
    select
        session_id,
        person_id,
        platform,
        event_dt as session_dt,
        starts_with(person_id, 'device:') as is_anonymous,
        arg_min(device_id, event_at) as device_id,
        min(event_at) as started_at,
        max(event_at) as ended_at,
        cast(date_diff('second', min(event_at), max(event_at)) as bigint) as duration_seconds,
        count(*) as events,
        count(*) filter (where event_name = 'page_view') as page_views,
        arg_min(page, event_at) as entry_page,
        count(*) = 1 as is_bounce,
        bool_or(event_name = 'order_submit') as has_order_submit
    from events
    group by session_id, person_id, platform, event_dt
)

select * from final
