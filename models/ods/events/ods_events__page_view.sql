{#- page_view (页面浏览): one row per valid event, its props typed (the tracking plan:
    schemas/page_view.json). Keyed by event day, like ods_events__events. -#}
with

events as (
    {{ tracked_events('page_view') }}
),

parsed as (
    select
        {{ event_envelope() }},
        cast(json_extract_string(props, '$.page_type') as varchar) as page_type,
        cast(json_extract_string(props, '$.title') as varchar) as title,
        cast(json_extract_string(props, '$.order_id') as bigint) as order_id,
        lake_dt
    from events
)

select * from parsed
