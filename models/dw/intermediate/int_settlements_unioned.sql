{#- Settlements from the monolith and svc_pay: fen -> yuan, status codes -> names. -#}
with

legacy as (
    select * from {{ ref('ods_shifu__settlement') }}
),

split as (
    select * from {{ ref('ods_svc_pay__pay_settlement') }}
),

settlement_statuses as (
    select * from {{ ref('source_status_codes') }}
    where status_domain = 'settlement'
),

split_conformed as (
    select
        split.* exclude (
            gross_amount_fen, platform_fee_fen, net_amount_fen, settlement_status_code
        ),
        {{ fen_to_yuan('split.gross_amount_fen') }} as gross_amount_yuan,
        {{ fen_to_yuan('split.platform_fee_fen') }} as platform_fee_yuan,
        {{ fen_to_yuan('split.net_amount_fen') }} as net_amount_yuan,
        settlement_statuses.status_name as settlement_status
    from split
    left join settlement_statuses
        on split.settlement_status_code = settlement_statuses.status_code
),

deduplicated as (
    {{ service_row_wins('split_conformed', 'legacy', 'settlement_id') }}
)

select * from deduplicated
