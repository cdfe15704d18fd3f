{#- Quotes: both tables are nightly snapshots (withdrawn quotes are hard-deleted), so the current
    state is the newest snapshot of either system; a legacy snapshot older than the services'
    would resurrect quotes deleted since the split. -#}
with

legacy as (
    select * from {{ ref('ods_shifu__master_quote') }}
),

split as (
    select * from {{ ref('ods_svc_order__order_quote') }}
),

split_conformed as (
    select
        split.* exclude (quote_amount_fen),
        {{ fen_to_yuan('split.quote_amount_fen') }} as quote_amount_yuan,
        1 as source_priority
    from split
),

legacy_conformed as (
    select
        legacy.*,
        2 as source_priority
    from legacy
),

unioned as (
    select * from split_conformed
    union all by name
    select * from legacy_conformed
),

newest_snapshot as (
    select * exclude (lake_dt)
    from unioned
    where lake_dt = (select max(all_rows.lake_dt) from unioned as all_rows)
),

deduplicated as (
    select * exclude (source_priority)
    from newest_snapshot
    qualify row_number() over (partition by quote_id order by source_priority) = 1
)

select * from deduplicated
