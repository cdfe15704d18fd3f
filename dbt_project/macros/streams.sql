{#- The log and event streams' ODS models share their shapes; these macros hold them once. -#}


{#- A stream's quarantine (lake/quarantine/<kind>/<stream>/dt=D/): one row per line ingest
    rejected, with its reason, the validator's message and where the line was. Incremental by
    lake day like the stream itself, recomputing the last `log_lookback_days` days. -#}
{% macro quarantine_rows(source_name, table_name) -%}
with

source as (
    select * from {{ lake_table(source_name, table_name) }}
    where dt >= {{ recompute_from('lake_dt', var('log_lookback_days')) }}
),

renamed as (
    select
        cast(reason as varchar) as reject_reason,
        cast(message as varchar) as reject_message,
        cast(file as varchar) as lake_file,
        cast(line as bigint) as lake_line_no,
        cast(raw as varchar) as raw_line,
        cast(dt as date) as lake_dt
    from source
)

select * from renamed
{%- endmacro %}


{#- The valid events of one name (ods_events__events), from the first event day an incremental
    run recomputes (`late_event_days` back: late events reopen their day). -#}
{% macro tracked_events(event_name) -%}
    select * from {{ ref('ods_events__events') }}
    where event_name = '{{ event_name }}'
        and event_dt >= {{ recompute_from('event_dt', var('late_event_days')) }}
{%- endmacro %}


{#- The envelope every per-event model starts with: who, when, where. -#}
{% macro event_envelope() -%}
        event_id,
        event_at,
        event_dt,
        platform,
        app_version,
        device_id,
        user_id,
        page
{%- endmacro %}
