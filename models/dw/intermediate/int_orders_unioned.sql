{#- Orders from the monolith and from svc_order, in warehouse terms: money in yuan, status names.
    After the split the migrated history is in both (same ids): the svc_order row wins. -#}
with

legacy as (
    select * from {{ ref('ods_shifu__service_order') }}
),

split as (
    select * from {{ ref('ods_svc_order__order_info') }}
),

order_statuses as (
    select * from {{ ref('source_status_codes') }}
    where status_domain = 'order'
),

split_conformed as (
    select
        split.* exclude (order_status_code, order_amount_fen),
        order_statuses.status_name as order_status,
        {{ fen_to_yuan('split.order_amount_fen') }} as order_amount_yuan
    from split
    left join order_statuses on split.order_status_code = order_statuses.status_code
),

deduplicated as (
    {{ service_row_wins('split_conformed', 'legacy', 'order_id') }}
)

select * from deduplicated
