{#- page_view (页面浏览): one row per valid event, its props typed (the tracking plan:
    schemas/page_view.json). Keyed by event day, like ods_events__events. -#}
with

events as (
    select * from {{ ref('ods_events__events') }}
    where event_name = 'page_view'
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
        cast(json_extract_string(props, '$.page_type') as varchar) as page_type,
        cast(json_extract_string(props, '$.title') as varchar) as title,
        cast(json_extract_string(props, '$.order_id') as bigint) as order_id,
        lake_dt
    from events
)

select * from parsed
