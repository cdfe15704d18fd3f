{#- quote_view (查看报价): one row per valid event, its props typed (the tracking plan:
    schemas/quote_view.json). Keyed by event day, like ods_events__events. -#}
with

events as (
    {{ tracked_events('quote_view') }}
),

parsed as (
    select
        {{ event_envelope() }},
        cast(json_extract_string(props, '$.order_id') as bigint) as order_id,
        cast(json_extract_string(props, '$.quote_count') as bigint) as quote_count,
        lake_dt
    from events
)

select * from parsed
