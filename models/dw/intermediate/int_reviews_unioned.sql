{#- Reviews: both tables are nightly snapshots (follow-up comments rewrite content without a
    timestamp), so the current state is the newest snapshot of either system. -#}
with

legacy as (
    select * from {{ ref('ods_shifu__review') }}
),

split as (
    select * from {{ ref('ods_svc_order__order_review') }}
),

unioned as (
    select split.*, 1 as source_priority from split
    union all by name
    select legacy.*, 2 as source_priority from legacy
),

newest_snapshot as (
    select * exclude (lake_dt)
    from unioned
    where lake_dt = (select max(all_rows.lake_dt) from unioned as all_rows)
),

deduplicated as (
    select * exclude (source_priority)
    from newest_snapshot
    qualify row_number() over (partition by review_id order by source_priority) = 1
)

select * from deduplicated
