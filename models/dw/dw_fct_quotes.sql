with

quotes as (
    select * from {{ ref('int_quotes_unioned') }}
),

final as (
    select
        quote_id,
        order_id,
        master_id,
        quote_amount_yuan,
        cast(distance_m / 1000.0 as decimal(10, 3)) as distance_km,
        quote_status,
        created_at,
        updated_at
    from quotes
)

select * from final
