{#- One row per application-log entry (a logback line with its stack trace joined), keyed by
    the day of its hourly file. -#}
with

source as (
    select * from {{ lake_table('app', 'entries') }}
    where dt >= {{ recompute_from('lake_dt', var('log_lookback_days')) }}
),

renamed as (
    select
        cast(file as varchar) || ':' || cast(line_no as varchar) as log_entry_id,
        cast(logged_at as timestamp) as logged_at,
        cast(level as varchar) as log_level,
        cast(service as varchar) as service,
        cast(host as varchar) as service_host,
        cast(pid as varchar) as pid,
        cast(thread as varchar) as thread_name,
        cast(logger as varchar) as logger_name,
        cast(trace_id as varchar) as trace_id,
        cast(message as varchar) as message,
        cast(exception_class as varchar) as exception_class,
        cast(stack as varchar) as stack_trace,
        cast(line_count as integer) as line_count,
        cast(file as varchar) as lake_file,
        cast(line_no as bigint) as lake_line_no,
        cast(dt as date) as lake_dt
    from source
)

select * from renamed
