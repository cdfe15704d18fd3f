{#- Devices (设备): one row per device seen in valid tracking events, and the account it logged
    in as (identity stitching from an anonymous device to a logged-in user). -#}
with

events as (
    select * from {{ ref('dw_fct_events') }}
),

final as (
    select
        device_id,
        arg_min(platform, event_at) as platform,
        min(event_at) as first_seen_at,
        max(event_at) as last_seen_at,
        count(distinct event_dt) as active_days,
        count(*) as events,
        min(event_at) filter (where user_id is not null) as first_identified_at,
        arg_max(user_id, event_at) filter (where user_id is not null) as last_user_id,
        count(distinct user_id) as distinct_users
    from events
    group by device_id
)

select * from final
