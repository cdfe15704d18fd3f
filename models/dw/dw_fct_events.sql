{#- One row per valid tracking event, with the person it counts for and its session.

    Identity stitching (身份合并): a person is the event's user_id; an anonymous event counts for
    the user its device logged in as on the same event day (the smallest user id if several),
    else for the device ('device:<device_id>'). Sessions (会话): a person's events on one
    platform, cut after 30 minutes without an event and at midnight (identity is per day).
    Incremental by event day: the days late events can still change are rebuilt whole. -#}
with

events as (
    select * from {{ ref('ods_events__events') }}
    where event_dt >= {{ recompute_from('event_dt', var('late_event_days')) }}
),

device_users as (
    select
        event_dt,
        device_id,
        min(cast(user_id as bigint)) as stitched_user_id
    from events
    where user_id is not null
    group by all
),

identified as (
    select
        events.*,
        coalesce(
            events.user_id,
            cast(device_users.stitched_user_id as varchar),
            'device:' || events.device_id
        ) as person_id,
        case
            when events.user_id is not null then 'user_id'
            when device_users.stitched_user_id is not null then 'stitched'
            else 'device'
        end as identity_source
    from events
    left join device_users
        on events.event_dt = device_users.event_dt
        and events.device_id = device_users.device_id
),

gaps as (
    select
        *,
        lag(event_at) over (
            partition by event_dt, person_id, platform
            order by event_at, event_id
        ) as previous_event_at
    from identified
),

session_starts as (
    select
        *,
        case
            when previous_event_at is null then 1
            when event_at - previous_event_at > interval 30 minute then 1
            else 0
        end as is_session_start
    from gaps
),

sessionised as (
    select
        *,
        sum(is_session_start) over (
            partition by event_dt, person_id, platform
            order by event_at, event_id
            rows between unbounded preceding and current row
        ) as session_number
    from session_starts
),

final as (
    select
        event_id,
        event_name,
        event_at,
        event_dt,
        received_at,
        platform,
        app_version,
        device_id,
        cast(user_id as bigint) as user_id,
        person_id,
        identity_source,
        md5(concat_ws('|', person_id, platform, event_dt, session_number)) as session_id,
        is_session_start = 1 as is_session_start,
        page,
        referrer,
        clock_skew_ms,
        cast(date_diff('second', event_at, received_at) / 60.0 as decimal(12, 2))
            as arrival_delay_minutes,
        lake_dt as arrival_dt
    from sessionised
)

select * from final
