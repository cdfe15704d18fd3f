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
        split.* exclude (amount_fen, payment_status_code),
        {{ fen_to_yuan('split.amount_fen') }} as amount_yuan,
        payment_statuses.status_name as payment_status
    from split
    left join payment_statuses on split.payment_status_code = payment_statuses.status_code
),

deduplicated as (
    {{ service_row_wins('split_conformed', 'legacy', 'payment_id') }}
)

select * from deduplicated
