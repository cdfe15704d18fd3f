with

settlements as (
    select * from {{ ref('int_settlements_unioned') }}
),

orders as (
    select * from {{ ref('dw_fct_orders') }}
),

final as (
    select
        settlements.settlement_id,
        settlements.order_id,
        settlements.master_id,
        orders.city_code,
        orders.category_code,
        settlements.gross_amount_yuan,
        settlements.platform_fee_yuan,
        settlements.net_amount_yuan,
        settlements.settlement_status,
        settlements.settled_at,
        cast(settlements.settled_at as date) as settled_date,
        settlements.created_at,
        settlements.updated_at
    from settlements
    left join orders on settlements.order_id = orders.order_id
)

select * from final
