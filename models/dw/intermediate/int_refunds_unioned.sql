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
        split.* exclude (refund_amount_fen, refund_status_code),
        {{ fen_to_yuan('split.refund_amount_fen') }} as refund_amount_yuan,
        refund_statuses.status_name as refund_status
    from split
    left join refund_statuses on split.refund_status_code = refund_statuses.status_code
),

deduplicated as (
    {{ service_row_wins('split_conformed', 'legacy', 'refund_id') }}
)

select * from deduplicated
