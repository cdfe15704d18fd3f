{#- payment_submit (提交支付): one row per valid event, its props typed (the tracking plan:
    schemas/payment_submit.json). Keyed by event day, like ods_events__events. -#}
with

events as (
    select * from {{ ref('ods_events__events') }}
    where event_name = 'payment_submit'
        and event_dt >= {{ recompute_from('event_dt', var('late_event_days')) }}
),

parsed as (
    select
        event_id,
        event_at,
        event_dt,
        platform,
        app_version,
        device_id,
        user_id,
        page,
        cast(json_extract_string(props, '$.pay_channel') as varchar) as pay_channel,
        cast(json_extract_string(props, '$.order_id') as bigint) as order_id,
        cast(json_extract_string(props, '$.amount_yuan') as decimal(18, 2)) as amount_yuan,
        lake_dt
    from events
)

select * from parsed
