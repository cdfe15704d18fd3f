{#- Reading the lake.

    Every relational source table is declared once, in models/ods/<source>/_<source>__sources.yml,
    with `meta.external_location` = read_parquet over lake/raw/<kind>/<source>/<table>/dt=*/.
    `lake_table` is how an ODS model reads one: the source() relation when the lake holds at
    least one partition of it, otherwise an empty relation typed from the columns declared in
    the sources YAML. A post-split table has no partition before the split (and a legacy one
    none in a lake started after it); its ODS model then builds empty instead of failing.

    `newest_only=true` is for tables whose current state is a snapshot (mode full, or mode cdc
    on MySQL): it reads the newest snapshot partition, with the binlog changes since that
    snapshot applied when the lake holds any for the table (snapshot_with_changes). Which mode
    a table runs in is deployment config (config/sources.yml), so the model does not say: the
    lake does. A table with binlog changes whose model reads incremental extracts fails to
    compile, rather than silently missing every change since its first snapshot.
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
    {%- set changes = binlog_changes_pattern(relation) -%}
    {%- set newest_change = newest_partition_of(changes) if changes is not none else none -%}
    {%- if newest_change is not none -%}
        {%- if not newest_only -%}
            {{ exceptions.raise_compiler_error(
                source_name ~ "." ~ table_name ~ " has binlog changes in the lake (mode cdc) but "
                ~ "its ODS model reads incremental extracts: read it with lake_table(..., "
                ~ "newest_only=true), which applies the changes to the newest snapshot") }}
        {%- endif -%}
        {{- return(snapshot_with_changes(relation, newest, changes, newest_change)) -}}
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


{#- The read_parquet glob of a lake source relation. -#}
{% macro lake_pattern(relation) -%}
    {{- return(relation.render().split("'")[1]) -}}
{%- endmacro %}


{#- The glob of the binlog change records of the table behind a lake source relation:
    lake/raw/cdc/<source>/<table>/dt=*/part-*.parquet beside lake/raw/<kind>/<source>/<table>/;
    none for what is not landed under lake/raw/ (quarantine). -#}
{% macro binlog_changes_pattern(relation) -%}
    {%- set pattern = lake_pattern(relation) -%}
    {%- set changes = modules.re.sub('/lake/raw/[^/]+/', '/lake/raw/cdc/', pattern, count=1) -%}
    {{- return(none if changes == pattern else changes) -}}
{%- endmacro %}


{#- The current state of a table followed through the binlog (ingest/README.md, "CDC records"):
    the newest snapshot partition, with every change recorded at or after the binlog position
    that snapshot's manifest saved (taken before the snapshot started) applied on top, deletes
    honoured. Per primary key (the manifest's), the newest change by (file, pos, row) replaces
    the snapshot's row, or removes it if a delete. A change the snapshot already holds is
    harmless: its image is the row's state until the next change. Changes from before the
    snapshot's position are ignored, so a re-snapshot after a purged binlog starts clean.
    Every row gets dt = the newest of the snapshot's and the changes' partitions: the date as of
    which this is the table's current state. Positions compare as (file name, offset): binlog
    file names sort in order while their numeric suffix keeps its six digits. -#}
{% macro snapshot_with_changes(relation, newest, changes, newest_change) -%}
    {%- set folder = lake_pattern(relation).rsplit('/dt=', 1)[0] ~ '/dt=' ~ newest -%}
    {%- set manifest = run_query(
        "select binlog_position.file, binlog_position.pos, array_to_string(primary_key, ',') "
        ~ "from read_json('" ~ folder ~ "/_manifest.json', "
        ~ "columns = {binlog_position: 'struct(file varchar, pos bigint)', "
        ~ "primary_key: 'varchar[]'})") -%}
    {%- set file, pos, key = manifest.rows[0][0], manifest.rows[0][1], manifest.rows[0][2] -%}
    {%- set file = file | replace("'", "''") if file is not none else none -%}
    {%- if not key -%}
        {{ exceptions.raise_compiler_error(
            folder ~ "/_manifest.json names no primary key: the binlog changes cannot be applied") }}
    {%- endif -%}
    {%- if file is none -%}
        {#- A snapshot taken without a binlog position (mode full again): it is the state. -#}
        {{- return("(select * from " ~ relation ~ " where dt = date '" ~ newest ~ "')") -}}
    {%- endif -%}
    {%- set as_of = [newest | string, newest_change | string] | max -%}
    {#- Identifiers the ingest validated ([A-Za-z_][A-Za-z0-9_$]*), quoted all the same. -#}
    {%- set quoted = [] -%}
    {%- for column in key.split(',') -%}{%- do quoted.append(adapter.quote(column)) -%}{%- endfor -%}
    {%- set keys = quoted | join(', ') -%}
    (
        with snapshot_rows as (
            select * exclude (dt) from {{ relation }} where dt = date '{{ newest }}'
        ),
        newest_change as (
            select * exclude (dt)
            from read_parquet('{{ changes }}', hive_partitioning = true, union_by_name = true)
            where _binlog_file > '{{ file }}'
                or (_binlog_file = '{{ file }}' and _binlog_pos >= {{ pos }})
            qualify row_number() over (
                partition by {{ keys }}
                order by _binlog_file desc, _binlog_pos desc, _row desc
            ) = 1
        ),
        current_rows as (
            select snapshot_rows.*
            from snapshot_rows
            anti join newest_change using ({{ keys }})
            union all by name
            select * exclude (_op, _binlog_file, _binlog_pos, _row, _commit_at, _before)
            from newest_change
            where _op != 'delete'
        )
        select *, date '{{ as_of }}' as dt from current_rows
    )
{%- endmacro %}


{#- The newest dt=YYYY-MM-DD partition of a lake source relation (its read_parquet glob), or
    none when it has no file yet. -#}
{% macro newest_partition(relation) -%}
    {{- return(newest_partition_of(lake_pattern(relation))) -}}
{%- endmacro %}


{% macro newest_partition_of(pattern) -%}
    {%- set result = run_query(
        "select max(regexp_extract(file, '/dt=([0-9]{4}-[0-9]{2}-[0-9]{2})/', 1)) "
        ~ "from glob('" ~ pattern ~ "')") -%}
    {{- return(result.columns[0].values()[0]) -}}
{%- endmacro %}


{#- The number of parquet files behind a lake source relation (its read_parquet glob). -#}
{% macro lake_partitions(relation) -%}
    {{- return(lake_files(lake_pattern(relation))) -}}
{%- endmacro %}


{#- The number of files matching a glob. -#}
{% macro lake_files(pattern) -%}
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
