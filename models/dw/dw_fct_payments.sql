{#- Payment attempts; GMV is the successful ones, by the day they were paid. -#}
with

payments as (
    select * from {{ ref('int_payments_unioned') }}
),

orders as (
    select * from {{ ref('dw_fct_orders') }}
),

final as (
    select
        payments.payment_id,
        payments.payment_no,
        payments.order_id,
        payments.merchant_id,
        orders.city_code,
        orders.category_code,
        payments.amount_yuan,
        payments.pay_channel,
        payments.payment_status,
        payments.paid_at,
        cast(payments.paid_at as date) as paid_date,
        payments.created_at,
        payments.updated_at
    from payments
    left join orders on payments.order_id = orders.order_id
)

select * from final
