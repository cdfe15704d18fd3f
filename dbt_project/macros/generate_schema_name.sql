{#- Layers are schemas named ods, dw and rpt in every target (each target is its own DuckDB
    file), not dbt's default <target_schema>_<custom_schema>. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{- (custom_schema_name or target.schema) | trim -}}
{%- endmacro %}
