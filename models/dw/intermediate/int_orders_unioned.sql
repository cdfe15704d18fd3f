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
        split.* exclude (order_status_code, order_amount_fen, lake_dt),
        order_statuses.status_name as order_status,
        {{ fen_to_yuan('split.order_amount_fen') }} as order_amount_yuan,
        1 as source_priority
    from split
    left join order_statuses on split.order_status_code = order_statuses.status_code
),

legacy_conformed as (
    select
        legacy.* exclude (lake_dt),
        2 as source_priority
    from legacy
),

unioned as (
    select * from split_conformed
    union all by name
    select * from legacy_conformed
),

deduplicated as (
    select * exclude (source_priority)
    from unioned
    qualify row_number() over (partition by order_id order by source_priority) = 1
)

select * from deduplicated
