{#- order_cancel (取消订单): one row per valid event, its props typed (the tracking plan:
    schemas/order_cancel.json). Keyed by event day, like ods_events__events. -#}
with

events as (
    {{ tracked_events('order_cancel') }}
),

parsed as (
    select
        {{ event_envelope() }},
        cast(json_extract_string(props, '$.order_id') as bigint) as order_id,
        cast(json_extract_string(props, '$.order_no') as varchar) as order_no,
        lake_dt
    from events
)

select * from parsed
