{#- quote_submit (师傅报价): one row per valid event, its props typed (the tracking plan:
    schemas/quote_submit.json). Keyed by event day, like ods_events__events. -#}
with

events as (
    {{ tracked_events('quote_submit') }}
),

parsed as (
    select
        {{ event_envelope() }},
        cast(json_extract_string(props, '$.order_id') as bigint) as order_id,
        cast(json_extract_string(props, '$.quote_id') as bigint) as quote_id,
        cast(json_extract_string(props, '$.price_yuan') as decimal(18, 2)) as price_yuan,
        lake_dt
    from events
)

select * from parsed
