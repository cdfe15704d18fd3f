{#- GMV by city: successful payments by the day paid, in the city of the order. -#}
with

payments as (
    select * from {{ ref('dw_fct_payments') }}
),

final as (
    select
        paid_date as dt,
        city_code,
        cast(sum(case when payment_status = 'success' then amount_yuan else 0 end)
            as decimal(18, 2)) as gmv_yuan,
        cast(sum(case when payment_status = 'success' then 1 else 0 end) as bigint)
            as paid_orders
    from payments
    where paid_at is not null
    group by all
)

select * from final
