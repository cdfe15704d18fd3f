with

reviews as (
    select * from {{ ref('int_reviews_unioned') }}
),

orders as (
    select * from {{ ref('dw_fct_orders') }}
),

final as (
    select
        reviews.review_id,
        reviews.order_id,
        reviews.master_id,
        reviews.customer_id,
        orders.city_code,
        orders.category_code,
        reviews.score,
        reviews.content,
        reviews.created_at,
        cast(reviews.created_at as date) as created_date
    from reviews
    left join orders on reviews.order_id = orders.order_id
)

select * from final
