{#- click (点击): one row per valid event, its props typed (the tracking plan:
    schemas/click.json). Keyed by event day, like ods_events__events. -#}
with

events as (
    {{ tracked_events('click') }}
),

parsed as (
    select
        {{ event_envelope() }},
        cast(json_extract_string(props, '$.element_id') as varchar) as element_id,
        cast(json_extract_string(props, '$.element_text') as varchar) as element_text,
        cast(json_extract_string(props, '$.order_id') as bigint) as order_id,
        cast(json_extract_string(props, '$.dispatch_id') as bigint) as dispatch_id,
        lake_dt
    from events
)

select * from parsed
