with

status_changes as (
    select * from {{ ref('int_order_status_changes_unioned') }}
),

final as (
    select
        status_change_id,
        order_id,
        from_status,
        to_status,
        operator_role,
        operator_id,
        created_at as changed_at,
        cast(created_at as date) as changed_date
    from status_changes
)

select * from final
