{#- Settlement reconciliation (结算对账) by the day orders were paid: every successful payment
    should have one settlement with gross = amount paid, fee = gross x the category's rate
    (rounded half-up to the fen) and net = gross - fee; settled the next morning. -#}
with

payments as (
    select * from {{ ref('dw_fct_payments') }}
),

settlements as (
    select * from {{ ref('dw_fct_settlements') }}
),

orders as (
    select * from {{ ref('dw_fct_orders') }}
),

categories as (
    select * from {{ ref('dw_dim_service_categories') }}
),

paid as (
    select * from payments
    where payment_status = 'success'
),

matched as (
    select
        paid.paid_date as dt,
        paid.order_id,
        paid.amount_yuan,
        settlements.settlement_id,
        settlements.settlement_status,
        settlements.gross_amount_yuan,
        settlements.platform_fee_yuan,
        settlements.net_amount_yuan,
        -- Half-up to the fen, on exact decimals (round() on a decimal rounds half away from 0).
        round(settlements.gross_amount_yuan * categories.platform_fee_rate, 2) as expected_fee_yuan
    from paid
    left join settlements on paid.order_id = settlements.order_id
    left join orders on paid.order_id = orders.order_id
    left join categories on orders.category_id = categories.category_id
),

final as (
    select
        dt,
        cast(count(*) as bigint) as paid_orders,
        cast(sum(amount_yuan) as decimal(18, 2)) as gmv_yuan,
        cast(count(settlement_id) as bigint) as settlements_created,
        cast(count(*) filter (where settlement_status = 'settled') as bigint)
            as settlements_settled,
        cast(count(*) filter (where settlement_id is null) as bigint)
            as payments_without_settlement,
        cast(count(*) filter (where gross_amount_yuan != amount_yuan) as bigint)
            as gross_mismatches,
        cast(count(*) filter (where platform_fee_yuan != expected_fee_yuan) as bigint)
            as fee_mismatches,
        cast(count(*) filter (where net_amount_yuan != gross_amount_yuan - platform_fee_yuan)
            as bigint) as net_mismatches
    from matched
    group by dt
)

select * from final
