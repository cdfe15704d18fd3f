{#- payment_submit (提交支付): one row per valid event, its props typed (the tracking plan:
    schemas/payment_submit.json). Keyed by event day, like ods_events__events. -#}
with

events as (
    {{ tracked_events('payment_submit') }}
),

parsed as (
    select
        {{ event_envelope() }},
        cast(json_extract_string(props, '$.pay_channel') as varchar) as pay_channel,
        cast(json_extract_string(props, '$.order_id') as bigint) as order_id,
        cast(json_extract_string(props, '$.amount_yuan') as decimal(18, 2)) as amount_yuan,
        lake_dt
    from events
)

select * from parsed
