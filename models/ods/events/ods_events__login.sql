{#- login (登录): one row per valid event, its props typed (the tracking plan:
    schemas/login.json). Keyed by event day, like ods_events__events. -#}
with

events as (
    {{ tracked_events('login') }}
),

parsed as (
    select
        {{ event_envelope() }},
        cast(json_extract_string(props, '$.method') as varchar) as login_method,
        lake_dt
    from events
)

select * from parsed
