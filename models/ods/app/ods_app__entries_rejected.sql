{#- Application-log lines ingest rejected (quarantine): one row per line, with its reason. -#}
with

source as (
    select * from {{ lake_table('app', 'entries_quarantine') }}
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
