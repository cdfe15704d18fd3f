{#- register (注册): one row per valid event, its props typed (the tracking plan:
    schemas/register.json). Keyed by event day, like ods_events__events. -#}
with

events as (
    {{ tracked_events('register') }}
),

parsed as (
    select
        {{ event_envelope() }},
        cast(json_extract_string(props, '$.method') as varchar) as login_method,
        cast(json_extract_string(props, '$.role') as varchar) as account_role,
        lake_dt
    from events
)

select * from parsed
