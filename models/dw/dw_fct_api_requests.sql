{#- One row per API gateway request (nginx access log), with the service that answered it
    (the api_routes seed: the gateways' routing table) and its latency in milliseconds.
    Incremental by the day of the request. -#}
with

requests as (
    select * from {{ ref('ods_nginx__access') }}
    where lake_dt >= {{ recompute_from('lake_dt', var('log_lookback_days')) }}
),

routes as (
    select * from {{ ref('api_routes') }}
),

routed as (
    select
        requests.*,
        regexp_extract(requests.request_path, '^/api/[^/?]*/[^/?]*') as route_prefix
    from requests
),

final as (
    select
        routed.request_id,
        routed.requested_at,
        cast(routed.requested_at as date) as request_dt,
        routed.gateway_host,
        routed.http_method,
        routed.request_path,
        routed.status_code,
        routed.status_code >= 500 as is_5xx,
        -- The gateways' rules (simulator/routing.py): /api/ paths by their route, other paths
        -- are the web front end's static files; nginx itself answers an /api/ path without a
        -- route and a request line it could not parse.
        case
            when routed.request_path is null then 'gateway'
            when not starts_with(routed.request_path, '/api/') then 'static'
            else coalesce(routes.service, 'gateway')
        end as service,
        nullif(routed.route_prefix, '') as route_prefix,
        cast(round(routed.request_time_s * 1000) as integer) as request_time_ms,
        cast(round(routed.upstream_response_time_s * 1000) as integer) as upstream_response_time_ms,
        routed.upstream_attempts,
        routed.body_bytes,
        routed.user_agent,
        routed.lake_dt
    from routed
    left join routes on routed.route_prefix = routes.route_prefix
)

select * from final
