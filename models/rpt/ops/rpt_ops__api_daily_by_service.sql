{#- API traffic by service (服务) and day: requests, 5xx responses and their rate, latency
    percentiles (P50/P95/P99, ms), and the application errors the service logged. -#}
with

requests as (
    select * from {{ ref('dw_fct_api_requests') }}
),

app_errors as (
    select * from {{ ref('dw_fct_app_errors') }}
),

served as (
    select
        request_dt as dt,
        service,
        count(request_id) as api_requests,
        sum(case when is_5xx then 1 else 0 end) as http_5xx,
        quantile_cont(request_time_ms, 0.5) as latency_p50_ms,
        quantile_cont(request_time_ms, 0.95) as latency_p95_ms,
        quantile_cont(request_time_ms, 0.99) as latency_p99_ms
    from requests
    group by all
),

failed as (
    select
        error_dt as dt,
        service,
        count(app_error_id) as app_errors
    from app_errors
    group by all
),

final as (
    select
        coalesce(served.dt, failed.dt) as dt,
        coalesce(served.service, failed.service) as service,
        cast(coalesce(served.api_requests, 0) as bigint) as api_requests,
        cast(coalesce(served.http_5xx, 0) as bigint) as http_5xx,
        cast(served.http_5xx / nullif(served.api_requests, 0) as decimal(9, 4)) as error_rate_5xx,
        cast(served.latency_p50_ms as decimal(12, 2)) as latency_p50_ms,
        cast(served.latency_p95_ms as decimal(12, 2)) as latency_p95_ms,
        cast(served.latency_p99_ms as decimal(12, 2)) as latency_p99_ms,
        cast(coalesce(failed.app_errors, 0) as bigint) as app_errors
    from served
    full outer join failed
        on served.dt = failed.dt
        and served.service = failed.service
)

select * from final
