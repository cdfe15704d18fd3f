{#- Refunds from the monolith and svc_pay: fen -> yuan, status codes -> names. -#}
with

legacy as (
    select * from {{ ref('ods_shifu__refund') }}
),

split as (
    select * from {{ ref('ods_svc_pay__pay_refund') }}
),

refund_statuses as (
    select * from {{ ref('source_status_codes') }}
    where status_domain = 'refund'
),

split_conformed as (
    select
        split.* exclude (refund_amount_fen, refund_status_code, lake_dt),
        {{ fen_to_yuan('split.refund_amount_fen') }} as refund_amount_yuan,
        refund_statuses.status_name as refund_status,
        1 as source_priority
    from split
    left join refund_statuses on split.refund_status_code = refund_statuses.status_code
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
    qualify row_number() over (partition by refund_id order by source_priority) = 1
)

select * from deduplicated
