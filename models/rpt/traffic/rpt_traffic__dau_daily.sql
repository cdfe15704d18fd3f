{#- Daily active users (日活) by platform: distinct people with a valid event that day, identity
    stitched (dw_fct_events), by the corrected event day. A day is final once the 72-hour late
    window has passed (is_final). -#}
with

events as (
    select * from {{ ref('dw_fct_events') }}
),

daily as (
    select
        event_dt as dt,
        platform,
        count(distinct person_id) as daily_active_users,
        count(distinct person_id) filter (where identity_source != 'device') as identified_users,
        count(event_id) as tracking_events
    from events
    group by all
),

newest as (
    select max(event_dt) as event_dt from events
),

final as (
    select
        daily.dt,
        daily.platform,
        cast(daily.daily_active_users as bigint) as daily_active_users,
        cast(daily.identified_users as bigint) as identified_users,
        cast(daily.tracking_events as bigint) as tracking_events,
        -- Events arrive up to 72 h late: a day is final 3 days after it.
        daily.dt + {{ var('late_event_days') }} <= newest.event_dt as is_final
    from daily
    cross join newest
)

select * from final
