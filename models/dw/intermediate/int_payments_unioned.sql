{#- Payments from the monolith and svc_pay: fen -> yuan, status codes -> names; the svc_pay row
    wins for migrated history. -#}
with

legacy as (
    select * from {{ ref('ods_shifu__payment') }}
),

split as (
    select * from {{ ref('ods_svc_pay__pay_order') }}
),

payment_statuses as (
    select * from {{ ref('source_status_codes') }}
    where status_domain = 'payment'
),

split_conformed as (
    select
        split.* exclude (amount_fen, payment_status_code, lake_dt),
        {{ fen_to_yuan('split.amount_fen') }} as amount_yuan,
        payment_statuses.status_name as payment_status,
        1 as source_priority
    from split
    left join payment_statuses on split.payment_status_code = payment_statuses.status_code
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
    qualify row_number() over (partition by payment_id order by source_priority) = 1
)

select * from deduplicated
