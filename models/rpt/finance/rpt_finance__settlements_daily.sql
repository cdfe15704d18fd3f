{#- Settlements paid out to masters per day (T+1 batch at 03:00), and the take rate. -#}
with

settlements as (
    select * from {{ ref('dw_fct_settlements') }}
),

settled as (
    select
        settled_date as dt,
        sum(case when settlement_status = 'settled' then 1 else 0 end) as settlements_count,
        sum(case when settlement_status = 'settled' then gross_amount_yuan else 0 end)
            as settlement_gross_yuan,
        sum(case when settlement_status = 'settled' then platform_fee_yuan else 0 end)
            as platform_fee_yuan,
        sum(case when settlement_status = 'settled' then net_amount_yuan else 0 end)
            as settlement_net_yuan
    from settlements
    where settled_at is not null
    group by all
),

final as (
    select
        dt,
        cast(settlements_count as bigint) as settlements_count,
        cast(settlement_gross_yuan as decimal(18, 2)) as settlement_gross_yuan,
        cast(platform_fee_yuan as decimal(18, 2)) as platform_fee_yuan,
        cast(settlement_net_yuan as decimal(18, 2)) as settlement_net_yuan,
        cast(platform_fee_yuan / nullif(settlement_gross_yuan, 0) as decimal(9, 4)) as take_rate
    from settled
)

select * from final
