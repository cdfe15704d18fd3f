{#- click (点击): one row per valid event, its props typed (the tracking plan:
    schemas/click.json). Keyed by event day, like ods_events__events. -#}
with

events as (
    select * from {{ ref('ods_events__events') }}
    where event_name = 'click'
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
        cast(json_extract_string(props, '$.element_id') as varchar) as element_id,
        cast(json_extract_string(props, '$.element_text') as varchar) as element_text,
        cast(json_extract_string(props, '$.order_id') as bigint) as order_id,
        cast(json_extract_string(props, '$.dispatch_id') as bigint) as dispatch_id,
        lake_dt
    from events
)

select * from parsed
