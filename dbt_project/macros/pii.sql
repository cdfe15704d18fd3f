{#- Personal data in ODS: the one tokenisation of ingest/pii.py, through the DuckDB functions
    that the ingest.pii_udfs plugin registers on dbt's connection. -#}
{% macro pii_phone(column) -%}
    pii_token('phone', cast({{ column }} as varchar))
{%- endmacro %}

{% macro pii_id_card(column) -%}
    pii_token('id_card', cast({{ column }} as varchar))
{%- endmacro %}

{% macro pii_name(column) -%}
    pii_token('name', cast({{ column }} as varchar))
{%- endmacro %}

{% macro pii_address(column) -%}
    pii_district(cast({{ column }} as varchar))
{%- endmacro %}

{#- Free text: the Python scrubber runs only where a cheap RE2 prefilter finds something that
    could be personal (ingest.pii.SQL_PREFILTER), so clean text costs no Python call. -#}
{% macro pii_free_text(column) -%}
    case
        when regexp_matches({{ column }}, '1[3-9][0-9]{9}|[0-9]{17}[0-9Xx]|[0-9]号')
            then pii_scrub({{ column }})
        else {{ column }}
    end
{%- endmacro %}
