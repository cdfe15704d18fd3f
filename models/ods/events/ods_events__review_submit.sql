{#- review_submit (提交评价): one row per valid event, its props typed (the tracking plan:
    schemas/review_submit.json). Keyed by event day, like ods_events__events. -#}
with

events as (
    {{ tracked_events('review_submit') }}
),

parsed as (
    select
        {{ event_envelope() }},
        cast(json_extract_string(props, '$.order_id') as bigint) as order_id,
        cast(json_extract_string(props, '$.score') as bigint) as score,
        cast(json_extract_string(props, '$.has_text') as boolean) as has_text,
        lake_dt
    from events
)

select * from parsed
