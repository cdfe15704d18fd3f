{#- order_submit (提交订单): one row per valid event, its props typed (the tracking plan:
    schemas/order_submit.json). Keyed by event day, like ods_events__events. -#}
with

events as (
    {{ tracked_events('order_submit') }}
),

parsed as (
    select
        {{ event_envelope() }},
        cast(json_extract_string(props, '$.order_no') as varchar) as order_no,
        cast(json_extract_string(props, '$.order_id') as bigint) as order_id,
        cast(json_extract_string(props, '$.category') as varchar) as category_code,
        cast(json_extract_string(props, '$.city') as varchar) as city_code,
        cast(json_extract_string(props, '$.amount_yuan') as decimal(18, 2)) as amount_yuan,
        cast(json_extract_string(props, '$.contact_phone') as varchar) as contact_phone_token,
        cast(json_extract_string(props, '$.address') as varchar) as address_district,
        lake_dt
    from events
)

select * from parsed
