{#- Merchant activity per day: merchants who signed up (新入驻商家) and merchants who posted an
    order (下单商家数). -#}
with

merchants as (
    select * from {{ ref('dw_dim_merchants') }}
),

orders as (
    select * from {{ ref('dw_fct_orders') }}
),

signed_up as (
    select
        cast(created_at as date) as dt,
        count(merchant_id) as new_merchants
    from merchants
    group by all
),

ordering as (
    select
        created_date as dt,
        count(distinct merchant_id) as ordering_merchants
    from orders
    group by all
),

grain as (
    select dt from signed_up
    union
    select dt from ordering
),

final as (
    select
        grain.dt,
        cast(coalesce(signed_up.new_merchants, 0) as bigint) as new_merchants,
        cast(coalesce(ordering.ordering_merchants, 0) as bigint) as ordering_merchants
    from grain
    left join signed_up using (dt)
    left join ordering using (dt)
)

select * from final
