with

dispatches as (
    select * from {{ ref('int_dispatches_unioned') }}
),

final as (
    select
        dispatch_id,
        order_id,
        master_id,
        dispatch_type,
        cast(distance_m / 1000.0 as decimal(10, 3)) as match_distance_km,
        dispatch_result,
        dispatched_at,
        responded_at,
        cast(date_diff('second', dispatched_at, responded_at) / 60.0 as decimal(12, 2))
            as minutes_to_respond,
        created_at,
        updated_at
    from dispatches
)

select * from final
