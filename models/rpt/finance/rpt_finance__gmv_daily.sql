{#- GMV and refunds per day: successful payments by the day paid, successful refunds by the day
    refunded. -#}
with

payments as (
    select * from {{ ref('dw_fct_payments') }}
),

refunds as (
    select * from {{ ref('dw_fct_refunds') }}
),

paid as (
    select
        paid_date as dt,
        sum(case when payment_status = 'success' then amount_yuan else 0 end) as gmv_yuan,
        sum(case when payment_status = 'success' then 1 else 0 end) as paid_orders
    from payments
    where paid_at is not null
    group by all
),

refunded as (
    select
        refunded_date as dt,
        sum(case when refund_status = 'success' then 1 else 0 end) as refunds_count,
        sum(case when refund_status = 'success' then refund_amount_yuan else 0 end)
            as refund_amount_yuan
    from refunds
    where refunded_at is not null
    group by all
),

grain as (
    select dt from paid
    union
    select dt from refunded
),

final as (
    select
        grain.dt,
        cast(coalesce(paid.gmv_yuan, 0) as decimal(18, 2)) as gmv_yuan,
        cast(coalesce(paid.paid_orders, 0) as bigint) as paid_orders,
        cast(coalesce(refunded.refunds_count, 0) as bigint) as refunds_count,
        cast(coalesce(refunded.refund_amount_yuan, 0) as decimal(18, 2)) as refund_amount_yuan
    from grain
    left join paid using (dt)
    left join refunded using (dt)
)

select * from final
