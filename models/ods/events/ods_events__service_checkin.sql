{#- service_checkin (上门签到): one row per valid event, its props typed (the tracking plan:
    schemas/service_checkin.json). Keyed by event day, like ods_events__events. -#}
with

events as (
    {{ tracked_events('service_checkin') }}
),

parsed as (
    select
        {{ event_envelope() }},
        cast(json_extract_string(props, '$.order_id') as bigint) as order_id,
        cast(json_extract_string(props, '$.lat') as double) as lat,
        cast(json_extract_string(props, '$.lng') as double) as lng,
        lake_dt
    from events
)

select * from parsed
