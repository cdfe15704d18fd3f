with

refunds as (
    select * from {{ ref('int_refunds_unioned') }}
),

orders as (
    select * from {{ ref('dw_fct_orders') }}
),

final as (
    select
        refunds.refund_id,
        refunds.refund_no,
        refunds.order_id,
        refunds.payment_id,
        orders.merchant_id,
        orders.city_code,
        refunds.refund_amount_yuan,
        refunds.refund_reason,
        refunds.refund_status,
        refunds.refunded_at,
        cast(refunds.refunded_at as date) as refunded_date,
        refunds.created_at,
        refunds.updated_at
    from refunds
    left join orders on refunds.order_id = orders.order_id
)

select * from final
