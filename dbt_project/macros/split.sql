{#- One entity's rows from the monolith and from the service that took it over, in warehouse
    terms (units and status names already conformed). After the split the migrated history is
    in both systems under the same ids: the service's row wins. Both relations carry lake_dt
    (the ODS partition), which DW does not keep. -#}
{% macro service_row_wins(service_rows, monolith_rows, key) -%}
    select * exclude (source_priority)
    from (
        select * exclude (lake_dt), 1 as source_priority from {{ service_rows }}
        union all by name
        select * exclude (lake_dt), 2 as source_priority from {{ monolith_rows }}
    ) as unioned
    qualify row_number() over (partition by {{ key }} order by source_priority) = 1
{%- endmacro %}
