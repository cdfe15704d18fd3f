{#- order_submit (提交订单): one row per valid event, its props typed (the tracking plan:
    schemas/order_submit.json). Keyed by event day, like ods_events__events. -#}
with

events as (
    select * from {{ ref('ods_events__events') }}
    where event_name = 'order_submit'
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
