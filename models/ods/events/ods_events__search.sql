{#- search (搜索): one row per valid event, its props typed (the tracking plan:
    schemas/search.json). Keyed by event day, like ods_events__events. -#}
with

events as (
    {{ tracked_events('search') }}
),

parsed as (
    select
        {{ event_envelope() }},
        cast(json_extract_string(props, '$.keyword') as varchar) as keyword,
        cast(json_extract_string(props, '$.result_count') as bigint) as result_count,
        cast(json_extract_string(props, '$.city') as varchar) as city_code,
        lake_dt
    from events
)

select * from parsed
