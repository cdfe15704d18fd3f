with

complaints as (
    select * from {{ ref('int_complaints_unioned') }}
),

orders as (
    select * from {{ ref('dw_fct_orders') }}
),

final as (
    select
        complaints.complaint_id,
        complaints.order_id,
        complaints.master_id,
        orders.city_code,
        orders.category_code,
        complaints.complainant_role,
        complaints.complaint_type,
        complaints.content,
        complaints.complaint_status,
        complaints.resolution,
        complaints.resolved_at,
        complaints.created_at,
        cast(complaints.created_at as date) as created_date,
        complaints.updated_at
    from complaints
    left join orders on complaints.order_id = orders.order_id
)

select * from final
