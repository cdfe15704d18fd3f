{#- Lake -> ODS row-count reconciliation: what was landed is what was loaded.

    1. Every partition holds the rows its _manifest.json says were landed (row_count).
    2. The ODS model holds one row per primary key of the current state: the newest partition's
       keys for a full extract (with the binlog changes since applied, for a table followed
       through the binlog: lake_table), every partition's distinct keys for an incremental one.
    Returns one row per disagreement. -#}
{% test lake_reconciles(model, source_name, table_name, mode, key) %}
{%- set relation = source(source_name, table_name) -%}
{%- if execute and var('lake_lookup') and lake_partitions(relation) == 0 %}
select 'no partition landed yet' as check_name, null as dt, 0 as landed, 0 as loaded
where false
{%- else %}
{%- set pattern = lake_pattern(relation) if execute else '' -%}
{%- set manifests = pattern.rsplit('/', 1)[0] ~ '/_manifest.json' -%}
with

manifests as (
    select cast(dt as date) as dt, cast(row_count as bigint) as landed
    from read_json('{{ manifests }}', columns = {dt: 'varchar', row_count: 'bigint'})
),

partitions as (
    select dt, count(*) as loaded
    from {{ relation }}
    group by dt
),

per_partition as (
    select
        'partition rows = manifest row_count' as check_name,
        coalesce(manifests.dt, partitions.dt) as dt,
        coalesce(manifests.landed, 0) as landed,
        coalesce(partitions.loaded, 0) as loaded
    from manifests
    full outer join partitions on manifests.dt = partitions.dt
),

expected_keys as (
    select count(*) as landed
    from (
        select distinct {{ key }}
        {%- if mode == 'full' %}
        from {{ lake_table(source_name, table_name, newest_only=true) }} as current_rows
        {%- else %}
        from {{ relation }}
        {%- endif %}
    ) as current_keys
),

current_state as (
    select
        'ODS rows = current keys in the lake' as check_name,
        null::date as dt,
        expected_keys.landed,
        (select count(*) from {{ model }}) as loaded
    from expected_keys
)

select * from per_partition where landed != loaded
union all
select * from current_state where landed != loaded
{%- endif %}
{% endtest %}
