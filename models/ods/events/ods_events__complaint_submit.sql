{#- complaint_submit (提交投诉): one row per valid event, its props typed (the tracking plan:
    schemas/complaint_submit.json). Keyed by event day, like ods_events__events. -#}
with

events as (
    {{ tracked_events('complaint_submit') }}
),

parsed as (
    select
        {{ event_envelope() }},
        cast(json_extract_string(props, '$.order_id') as bigint) as order_id,
        cast(json_extract_string(props, '$.contact_phone') as varchar) as contact_phone_token,
        cast(json_extract_string(props, '$.has_images') as boolean) as has_images,
        lake_dt
    from events
)

select * from parsed
