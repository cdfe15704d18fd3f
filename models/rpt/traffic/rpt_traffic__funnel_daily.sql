{#- The order funnel (下单漏斗) by platform and day: people who viewed a page, searched and
    submitted an order that day, and the conversion from page view to order. -#}
with

events as (
    select * from {{ ref('dw_fct_events') }}
),

steps as (
    select
        event_dt as dt,
        platform,
        count(distinct case when event_name = 'page_view' then person_id end) as page_view_users,
        count(distinct case when event_name = 'search' then person_id end) as search_users,
        count(distinct case when event_name = 'order_submit' then person_id end)
            as order_submit_users
    from events
    group by all
),

final as (
    select
        dt,
        platform,
        cast(page_view_users as bigint) as page_view_users,
        cast(search_users as bigint) as search_users,
        cast(order_submit_users as bigint) as order_submit_users,
        cast(order_submit_users / nullif(page_view_users, 0) as decimal(9, 4))
            as order_conversion_rate
    from steps
)

select * from final
