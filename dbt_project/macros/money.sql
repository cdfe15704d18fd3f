{#- Money is yuan decimal(18, 2) in the warehouse. The monolith stores yuan DECIMAL(12, 2)
    (a double in SQLite: casting rounds to the nearest fen, which is exact for two decimals);
    the services store integer fen. -#}
{% macro yuan(column) -%}
    cast({{ column }} as decimal(18, 2))
{%- endmacro %}

{% macro fen_to_yuan(column) -%}
    cast(cast({{ column }} as decimal(18, 0)) * 0.01 as decimal(18, 2))
{%- endmacro %}
