{#- GMV per merchant and day: successful payments by the day paid. -#}
with

payments as (
    select * from {{ ref('dw_fct_payments') }}
),

merchants as (
    select * from {{ ref('dw_dim_merchants') }}
),

paid as (
    select
        paid_date as dt,
        merchant_id,
        sum(case when payment_status = 'success' then amount_yuan else 0 end) as gmv_yuan,
        sum(case when payment_status = 'success' then 1 else 0 end) as paid_orders
    from payments
    where paid_at is not null
    group by all
),

final as (
    select
        paid.dt,
        paid.merchant_id,
        merchants.merchant_type,
        merchants.merchant_level,
        merchants.city_code,
        cast(paid.gmv_yuan as decimal(18, 2)) as gmv_yuan,
        cast(paid.paid_orders as bigint) as paid_orders
    from paid
    left join merchants on paid.merchant_id = merchants.merchant_id
)

select * from final
