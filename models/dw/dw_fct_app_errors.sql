{#- One row per ERROR entry of the services' application logs, with its exception class; the
    trace id is the nginx request id, so an error joins dw_fct_api_requests.request_id.
    Incremental by the day of the entry. -#}
with

entries as (
    select * from {{ ref('ods_app__entries') }}
    where log_level = 'ERROR'
        and lake_dt >= {{ recompute_from('lake_dt', var('log_lookback_days')) }}
),

final as (
    select
        log_entry_id as app_error_id,
        logged_at,
        cast(logged_at as date) as error_dt,
        service,
        service_host,
        logger_name,
        thread_name,
        trace_id,
        exception_class,
        message,
        -- The first frame below the exception line: where it was thrown.
        nullif(trim(regexp_extract(stack_trace, '\n\s*at ([^\n]+)', 1)), '') as thrown_at,
        stack_trace,
        lake_dt
    from entries
)

select * from final
