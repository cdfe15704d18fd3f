{#- One definition per metric: every column of `model` with `meta.metric` must equal that metric
    recomputed from its semantic-layer definition (dbt_project/semantic/) at the model's grain:
    `time_column` (a date: the day of the measure's agg_time_dimension) plus `dimensions`
    (columns with the same name in the semantic model's table). The definition is cast to the
    column's contract type, so rounding is the column's own. Simple metrics (sum, count,
    count_distinct, average, min, max, percentile) and ratios of simple metrics are supported;
    missing rows count as 0 for sums and counts. Returns one row per disagreeing cell. -#}
{% test metrics_match_definitions(model, time_column, dimensions=[]) %}
{%- if not execute %}
select 1 as mismatch where false
{%- else %}
{%- set node = graph.nodes.values() | selectattr('resource_type', 'equalto', 'model')
    | selectattr('name', 'equalto', model.identifier) | first -%}
{%- set metric_columns = [] -%}
{%- for column in node.columns.values() -%}
    {%- set meta = column.get('meta') or {} -%}
    {%- set config_meta = (column.get('config') or {}).get('meta') or {} -%}
    {%- set metric_name = config_meta.get('metric') or meta.get('metric') -%}
    {%- if metric_name -%}
        {%- do metric_columns.append((column.name, metric_name, column.data_type)) -%}
    {%- endif -%}
{%- endfor -%}
{%- if metric_columns | length == 0 -%}
    {{ exceptions.raise_compiler_error("metrics_match_definitions on " ~ model.identifier ~ ": no column declares meta.metric") }}
{%- endif -%}
{%- set simple = {} -%}
{%- for _, metric_name, _ in metric_columns -%}
    {%- set metric = metric_definition(metric_name) -%}
    {%- if metric.type == 'ratio' -%}
        {%- do simple.update({metric.type_params.numerator.name: none, metric.type_params.denominator.name: none}) -%}
    {%- else -%}
        {%- do simple.update({metric_name: none}) -%}
    {%- endif -%}
{%- endfor -%}
{%- set keys = ['metric_date'] + dimensions -%}
with
{% for name in simple %}
{%- set measure, semantic_model = measure_definition(metric_definition(name).type_params.measure.name) %}
defined_{{ name }} as (
    select
        cast({{ measure.agg_time_dimension }} as date) as metric_date,
        {%- for dimension in dimensions %}
        {{ dimension }},
        {%- endfor %}
        {{ measure_aggregate(measure) }} as value
    from {{ semantic_model.node_relation.relation_name }}
    where {{ measure.agg_time_dimension }} is not null
    group by all
),
{% endfor %}
defined_keys as (
    {%- for name in simple %}
    select {{ keys | join(', ') }} from defined_{{ name }}
    {{- "\n    union\n" if not loop.last }}
    {%- endfor %}
),
reported as (
    select * from {{ model }}
),
compared as (
    select
        {%- for key in keys %}
        coalesce(reported.{{ time_column if key == 'metric_date' else key }}, defined_keys.{{ key }}) as {{ key }},
        {%- endfor %}
        {%- for column_name, metric_name, data_type in metric_columns %}
        {%- set metric = metric_definition(metric_name) %}
        reported.{{ column_name }} as reported_{{ column_name }},
        {%- if metric.type == 'ratio' %}
        cast(
            coalesce(defined_{{ metric.type_params.numerator.name }}.value, 0)
            / nullif(coalesce(defined_{{ metric.type_params.denominator.name }}.value, 0), 0)
            as {{ data_type }}
        ) as defined_{{ column_name }}{{ "," if not loop.last }}
        {%- elif measure_definition(metric.type_params.measure.name)[0].agg in ('sum', 'count', 'count_distinct') %}
        cast(coalesce(defined_{{ metric_name }}.value, 0) as {{ data_type }}) as defined_{{ column_name }}{{ "," if not loop.last }}
        {%- else %}
        cast(defined_{{ metric_name }}.value as {{ data_type }}) as defined_{{ column_name }}{{ "," if not loop.last }}
        {%- endif %}
        {%- endfor %}
    from reported
    full outer join defined_keys
        on reported.{{ time_column }} = defined_keys.metric_date
        {%- for dimension in dimensions %}
        and reported.{{ dimension }} is not distinct from defined_keys.{{ dimension }}
        {%- endfor %}
    {%- for name in simple %}
    left join defined_{{ name }}
        on coalesce(reported.{{ time_column }}, defined_keys.metric_date) = defined_{{ name }}.metric_date
        {%- for dimension in dimensions %}
        and coalesce(reported.{{ dimension }}, defined_keys.{{ dimension }}) is not distinct from defined_{{ name }}.{{ dimension }}
        {%- endfor %}
    {%- endfor %}
    -- Only the days the model reports: a report may cover a window of the history.
    where coalesce(reported.{{ time_column }}, defined_keys.metric_date)
        between (select min({{ time_column }}) from reported) and (select max({{ time_column }}) from reported)
)
{%- for column_name, metric_name, data_type in metric_columns %}
{%- set metric = metric_definition(metric_name) %}
{%- set additive = metric.type != 'ratio'
    and measure_definition(metric.type_params.measure.name)[0].agg in ('sum', 'count', 'count_distinct') %}
select
    '{{ column_name }}' as column_name,
    '{{ metric_name }}' as metric,
    {{ keys | join(', ') }},
    cast(reported_{{ column_name }} as varchar) as reported,
    cast(defined_{{ column_name }} as varchar) as defined
from compared
where {{ "coalesce(reported_" ~ column_name ~ ", 0)" if additive else "reported_" ~ column_name }}
    is distinct from defined_{{ column_name }}
{{ "union all" if not loop.last }}
{%- endfor %}
{%- endif %}
{% endtest %}
