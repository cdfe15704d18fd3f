{#- One row per well-formed nginx access-log line (a request through the API gateways), keyed
    by the day of `$time_local`. Units as nginx writes them (seconds). -#}
with

source as (
    select * from {{ lake_table('nginx', 'access') }}
    where dt >= {{ recompute_from('lake_dt', var('log_lookback_days')) }}
),

renamed as (
    select
        cast(request_id as varchar) as request_id,
        cast(requested_at as timestamp) as requested_at,
        cast(remote_addr as varchar) as remote_network,
        cast(remote_user as varchar) as remote_user,
        cast(method as varchar) as http_method,
        cast(path as varchar) as request_path,
        cast(query as varchar) as query_string,
        cast(protocol as varchar) as http_protocol,
        cast(request as varchar) as unparsed_request,
        cast(status as smallint) as status_code,
        cast(body_bytes as bigint) as body_bytes,
        cast(referer as varchar) as referer,
        cast(user_agent as varchar) as user_agent,
        cast(request_time_s as double) as request_time_s,
        cast(upstream_response_time_s as double) as upstream_response_time_s,
        cast(upstream_attempts as smallint) as upstream_attempts,
        cast(extra as varchar) as extra_fields,
        cast(host as varchar) as gateway_host,
        cast(file as varchar) as lake_file,
        cast(line_no as bigint) as lake_line_no,
        cast(dt as date) as lake_dt
    from source
)

select * from renamed
