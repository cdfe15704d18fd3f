{#- Masters, current state; history (status, skills, service area, credit level) is in the
    dw_dim_masters_history snapshot. Personal data as tokens; no home coordinates. -#}
with

masters as (
    select * from {{ ref('int_masters_unioned') }}
),

legacy_extracts as (
    select * from {{ ref('ods_shifu__master') }}
),

split_extracts as (
    select * from {{ ref('ods_svc_master__master_profile') }}
),

regions as (
    select * from {{ ref('dw_dim_regions') }}
),

as_of as (
    -- Observed at the end of the newest lake day: the SCD2 snapshot's valid-from.
    select cast(max(lake_dt) as timestamp) + interval 1 day as observed_at
    from (
        select lake_dt from legacy_extracts
        union all
        select lake_dt from split_extracts
    ) as extracts
),

final as (
    select
        masters.master_id,
        masters.user_id,
        masters.name_token,
        masters.phone_token,
        masters.id_card_token,
        masters.region_id,
        regions.city_code,
        masters.service_radius_km,
        masters.skills,
        masters.master_status,
        masters.credit_level,
        masters.rating_avg,
        masters.completed_orders,
        masters.is_deleted,
        masters.created_at,
        masters.updated_at,
        as_of.observed_at
    from masters
    cross join as_of
    left join regions on masters.region_id = regions.region_id
)

select * from final
