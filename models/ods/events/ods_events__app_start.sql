{#- app_start (启动App): one row per valid event, its props typed (the tracking plan:
    schemas/app_start.json). Keyed by event day, like ods_events__events. -#}
with

events as (
    {{ tracked_events('app_start') }}
),

parsed as (
    select
        {{ event_envelope() }},
        cast(json_extract_string(props, '$.launch_type') as varchar) as launch_type,
        cast(json_extract_string(props, '$.network') as varchar) as network,
        lake_dt
    from events
)

select * from parsed
