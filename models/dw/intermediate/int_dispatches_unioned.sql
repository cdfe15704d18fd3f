{#- Dispatch offers from the monolith and svc_order; the svc_order row wins. -#}
with

legacy as (
    select * from {{ ref('ods_shifu__order_dispatch') }}
),

split as (
    select * from {{ ref('ods_svc_order__order_dispatch') }}
),

unioned as (
    select split.* exclude (lake_dt), 1 as source_priority from split
    union all by name
    select legacy.* exclude (lake_dt), 2 as source_priority from legacy
),

deduplicated as (
    select * exclude (source_priority)
    from unioned
    qualify row_number() over (partition by dispatch_id order by source_priority) = 1
)

select * from deduplicated
