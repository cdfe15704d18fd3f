{#- Dispatch offers from the monolith and svc_order; the svc_order row wins. -#}
with

legacy as (
    select * from {{ ref('ods_shifu__order_dispatch') }}
),

split as (
    select * from {{ ref('ods_svc_order__order_dispatch') }}
),

deduplicated as (
    {{ service_row_wins('split', 'legacy', 'dispatch_id') }}
)

select * from deduplicated
