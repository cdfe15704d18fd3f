{#- service_checkin (上门签到): one row per valid event, its props typed (the tracking plan:
    schemas/service_checkin.json). Keyed by event day, like ods_events__events. -#}
with

events as (
    select * from {{ ref('ods_events__events') }}
    where event_name = 'service_checkin'
        and event_dt >= {{ recompute_from('event_dt', var('late_event_days')) }}
),

parsed as (
    select
        event_id,
        event_at,
        event_dt,
        platform,
        app_version,
        device_id,
        user_id,
        page,
        cast(json_extract_string(props, '$.order_id') as bigint) as order_id,
        cast(json_extract_string(props, '$.lat') as double) as lat,
        cast(json_extract_string(props, '$.lng') as double) as lng,
        lake_dt
    from events
)

select * from parsed
