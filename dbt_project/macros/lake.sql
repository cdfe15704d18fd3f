{#- Reading the lake.

    Every relational source table is declared once, in models/ods/<source>/_<source>__sources.yml,
    with `meta.external_location` = read_parquet over lake/raw/<kind>/<source>/<table>/dt=*/.
    `lake_table` is how an ODS model reads one: the source() relation when the lake holds at
    least one partition of it, otherwise an empty relation typed from the columns declared in
    the sources YAML. A post-split table has no partition before the split (and a legacy one
    none in a lake started after it); its ODS model then builds empty instead of failing.
-#}
{% macro lake_table(source_name, table_name, newest_only=false) -%}
    {%- set relation = source(source_name, table_name) -%}
    {%- if not execute or not var('lake_lookup') -%}
        {{- return(relation) -}}
    {%- endif -%}
    {%- set newest = newest_partition(relation) -%}
    {%- if newest is none -%}
        {{- return(empty_source(source_name, table_name)) -}}
    {%- endif -%}
    {#- A full extract's current state is its newest partition: name it at compile time, so
        that DuckDB opens that partition's files alone instead of every night's snapshot (a
        filter on max(dt) at run time still lists and filters them all, a cost that grows with
        the history). -#}
    {%- if newest_only -%}
        {{- return("(select * from " ~ relation ~ " where dt = date '" ~ newest ~ "')") -}}
    {%- endif -%}
    {{- return(relation) -}}
{%- endmacro %}


{#- The newest dt=YYYY-MM-DD partition of a lake source relation (its read_parquet glob), or
    none when it has no file yet. -#}
{% macro newest_partition(relation) -%}
    {%- set pattern = relation.render().split("'")[1] -%}
    {%- set result = run_query(
        "select max(regexp_extract(file, '/dt=([0-9]{4}-[0-9]{2}-[0-9]{2})/', 1)) "
        ~ "from glob('" ~ pattern ~ "')") -%}
    {{- return(result.columns[0].values()[0]) -}}
{%- endmacro %}


{#- The number of parquet files behind a lake source relation (its read_parquet glob). -#}
{% macro lake_partitions(relation) -%}
    {%- set pattern = relation.render().split("'")[1] -%}
    {%- set result = run_query("select count(*) from glob('" ~ pattern ~ "')") -%}
    {{- return(result.columns[0].values()[0]) -}}
{%- endmacro %}


{% macro empty_source(source_name, table_name) -%}
    {%- set node = graph.sources['source.' ~ project_name ~ '.' ~ source_name ~ '.' ~ table_name] -%}
    {%- if not node.columns -%}
        {{ exceptions.raise_compiler_error(
            "source " ~ source_name ~ "." ~ table_name ~ " has no partition in the lake and "
            ~ "no declared columns to build an empty relation from") }}
    {%- endif -%}
    (
        select
        {%- for column in node.columns.values() %}
            cast(null as {{ column.data_type }}) as {{ column.name }}{{ "," if not loop.last }}
        {%- endfor %}
        where false
    )
{%- endmacro %}


{#- The current state of a table extracted in full every night: its newest partition. -#}
{% macro latest_snapshot(relation_cte) -%}
    select * from {{ relation_cte }}
    where dt = (select max(dt) from {{ relation_cte }})
{%- endmacro %}


{#- The current state of a table extracted incrementally: every partition, the newest version of
    each primary key by the cursor column, then by partition (a later extract of an unchanged
    row wins).

    The models that call it are incremental (delete+insert on the primary key), so that a night
    costs the day's volume, not the history's: an incremental run reads only the partitions from
    the newest one already loaded minus `extract_lookback_days` on (a rerun of last night's
    ingest rewrites its partition), takes the newest version per key among them and replaces
    those keys. That equals the full rebuild because a cursor extract never lands an older
    version of a row in a later partition than a newer one (the cursor only grows), so the
    newest version of a key is always in the newest partition that holds the key. -#}
{% macro latest_version(relation_cte, key, cursor) -%}
    select * from {{ relation_cte }}
    where dt >= {{ recompute_from('lake_dt', var('extract_lookback_days')) }}
    qualify row_number() over (
        partition by {{ key }}
        order by {{ cursor }} desc nulls last, dt desc
    ) = 1
{%- endmacro %}


{#- CDC tables (mode cdc, MySQL only; ingest/README.md, "CDC records"): the current state is the
    table's snapshot (its newest full partition under lake/raw/<kind>/) with the binlog changes
    since (lake/raw/cdc/<source>/<table>/) applied, deletes honoured: the newest change per key
    (by binlog file, position, row) replaces the snapshot's row, or removes it if a delete.
    `snapshot_cte` and `changes_cte` are import CTEs; `key` a column list. The embedded default
    (SQLite) has no CDC tables, so no model calls this yet; a MySQL deployment's ODS model for a
    `mode: cdc` table does, with the same shape as latest_snapshot / latest_version. -#}
{% macro snapshot_plus_changes(snapshot_cte, changes_cte, key) -%}
    select * exclude (dt)
    from {{ snapshot_cte }}
    where dt = (select max(snapshot_rows.dt) from {{ snapshot_cte }} as snapshot_rows)
        and ({{ key }}) not in (
            select ({{ key }}) from {{ changes_cte }}
        )
    union all by name
    select * exclude (_op, _binlog_file, _binlog_pos, _row, _commit_at, _before, dt)
    from {{ changes_cte }}
    qualify row_number() over (
        partition by {{ key }}
        order by _binlog_file desc, _binlog_pos desc, _row desc
    ) = 1
        and _op != 'delete'
{%- endmacro %}
