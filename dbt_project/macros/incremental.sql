{#- Incremental models over the lake's daily partitions recompute whole days: the first day an
    incremental run rebuilds is `recompute_from(column, lookback_days)`, the newest day already
    in the model minus the lookback (an empty model starts from the beginning); the model keeps
    the rows from that day on, and dbt's delete+insert on the same day column (unique_key,
    dbt_project.yml) replaces those days whole. A full refresh starts from the beginning.

    The bound is a scalar subquery on the model itself, so that a dbt unit test can give it as
    the `this` fixture; DuckDB still prunes the lake's dt=* partitions with it (dynamic filter). -#}
{% macro recompute_from(date_column, lookback_days) -%}
    {%- if is_incremental() -%}
        (
            select coalesce(max(loaded.{{ date_column }}) - {{ lookback_days }}, date '1970-01-01')
            from {{ this }} as loaded
        )
    {%- else -%}
        date '1970-01-01'
    {%- endif -%}
{%- endmacro %}
