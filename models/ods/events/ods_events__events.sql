{#- Every valid tracking event, one row per event_id, keyed by its (corrected) event day.
    The lake partitions by arrival day, so a night's run re-reads the event days that late
    events can still change (var late_event_days) and replaces them whole. -#}
with

source as (
    select * from {{ lake_table('events', 'tracking') }}
    -- Arrival is never before the event: dt >= event_dt prunes the lake's partitions.
    where dt >= {{ recompute_from('event_dt', var('late_event_days')) }}
        and event_dt >= {{ recompute_from('event_dt', var('late_event_days')) }}
),

deduplicated as (
    -- ingest drops SDK retries within 8 arrival days; a retry beyond that is dropped here.
    select * from source
    qualify row_number() over (
        partition by event_id
        order by server_ts, file, line_no
    ) = 1
),

renamed as (
    select
        cast(event_id as varchar) as event_id,
        cast(event as varchar) as event_name,
        cast(event_at as timestamp) as event_at,
        cast(event_dt as date) as event_dt,
        cast(received_at as timestamp) as received_at,
        cast(platform as varchar) as platform,
        cast(app_version as varchar) as app_version,
        cast(device_id as varchar) as device_id,
        cast(user_id as varchar) as user_id,
        cast(client_ts as bigint) as client_ts,
        cast(sent_ts as bigint) as sent_ts,
        cast(server_ts as bigint) as server_ts,
        cast(clock_skew_ms as bigint) as clock_skew_ms,
        cast(page as varchar) as page,
        cast(referrer as varchar) as referrer,
        cast(ip as varchar) as ip_network,
        cast(ua as varchar) as user_agent,
        cast(props as varchar) as props,
        cast(collector as varchar) as collector,
        cast(file as varchar) as lake_file,
        cast(line_no as bigint) as lake_line_no,
        cast(dt as date) as lake_dt
    from deduplicated
)

select * from renamed
