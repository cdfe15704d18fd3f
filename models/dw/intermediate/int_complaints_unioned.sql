{#- Complaints from the monolith and svc_order; the svc_order row wins. -#}
with

legacy as (
    select * from {{ ref('ods_shifu__complaint') }}
),

split as (
    select * from {{ ref('ods_svc_order__order_complaint') }}
),

deduplicated as (
    {{ service_row_wins('split', 'legacy', 'complaint_id') }}
)

select * from deduplicated
