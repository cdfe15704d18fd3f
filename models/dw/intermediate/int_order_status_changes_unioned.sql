{#- Status changes from the monolith and svc_order, status codes as names; the svc_order row
    wins for migrated history. -#}
with

legacy as (
    select * from {{ ref('ods_shifu__order_status_log') }}
),

split as (
    select * from {{ ref('ods_svc_order__order_status_history') }}
),

order_statuses as (
    select * from {{ ref('source_status_codes') }}
    where status_domain = 'order'
),

split_conformed as (
    select
        split.* exclude (from_status_code, to_status_code),
        from_statuses.status_name as from_status,
        to_statuses.status_name as to_status
    from split
    left join order_statuses as from_statuses
        on split.from_status_code = from_statuses.status_code
    left join order_statuses as to_statuses
        on split.to_status_code = to_statuses.status_code
),

deduplicated as (
    {{ service_row_wins('split_conformed', 'legacy', 'status_change_id') }}
)

select * from deduplicated
