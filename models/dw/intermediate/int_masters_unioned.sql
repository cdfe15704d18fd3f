{#- Masters from the monolith and svc_master: radius metres -> km, status codes -> names, skill
    rows -> a sorted list (the monolith's JSON array, parsed). Both are nightly snapshots: the
    newest snapshot of either system is the current state. -#}
with

legacy as (
    select * from {{ ref('ods_shifu__master') }}
),

split as (
    select * from {{ ref('ods_svc_master__master_profile') }}
),

split_skills as (
    select * from {{ ref('ods_svc_master__master_skill') }}
),

master_statuses as (
    select * from {{ ref('source_status_codes') }}
    where status_domain = 'master'
),

skills_by_master as (
    select
        master_id,
        list(category_code order by category_code) as skills
    from split_skills
    group by master_id
),

split_conformed as (
    select
        split.* exclude (service_radius_m, master_status_code),
        cast(split.service_radius_m // 1000 as integer) as service_radius_km,
        master_statuses.status_name as master_status,
        coalesce(skills_by_master.skills, []) as skills,
        1 as source_priority
    from split
    left join master_statuses on split.master_status_code = master_statuses.status_code
    left join skills_by_master on split.master_id = skills_by_master.master_id
),

legacy_conformed as (
    select
        legacy.* exclude (skills_json),
        list_sort(from_json(legacy.skills_json, '["VARCHAR"]')) as skills,
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
    qualify row_number() over (partition by master_id order by source_priority) = 1
)

select * from deduplicated
