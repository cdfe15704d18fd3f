{#- app_start (启动App): one row per valid event, its props typed (the tracking plan:
    schemas/app_start.json). Keyed by event day, like ods_events__events. -#}
with

events as (
    select * from {{ ref('ods_events__events') }}
    where event_name = 'app_start'
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
        cast(json_extract_string(props, '$.launch_type') as varchar) as launch_type,
        cast(json_extract_string(props, '$.network') as varchar) as network,
        lake_dt
    from events
)

select * from parsed
