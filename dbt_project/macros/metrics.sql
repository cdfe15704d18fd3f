{#- The semantic layer's definitions (dbt_project/semantic/), read from the graph: used by the
    metrics_match_definitions test. -#}
{% macro metric_definition(name) -%}
    {%- set key = 'metric.' ~ project_name ~ '.' ~ name -%}
    {%- if key not in graph.metrics -%}
        {{ exceptions.raise_compiler_error("unknown metric " ~ name ~ " (dbt_project/semantic/)") }}
    {%- endif -%}
    {{- return(graph.metrics[key]) -}}
{%- endmacro %}


{% macro measure_definition(name) -%}
    {%- for semantic_model in graph.semantic_models.values() -%}
        {%- for measure in semantic_model.measures -%}
            {%- if measure.name == name -%}
                {{- return((measure, semantic_model)) -}}
            {%- endif -%}
        {%- endfor -%}
    {%- endfor -%}
    {{ exceptions.raise_compiler_error("unknown measure " ~ name) }}
{%- endmacro %}


{% macro measure_aggregate(measure) -%}
    {%- set expr = measure.expr or measure.name -%}
    {%- if measure.agg == 'count_distinct' -%} count(distinct {{ expr }})
    {%- elif measure.agg == 'average' -%} avg({{ expr }})
    {%- elif measure.agg in ('sum', 'count', 'min', 'max') -%} {{ measure.agg }}({{ expr }})
    {%- elif measure.agg == 'percentile' and measure.agg_params.use_discrete_percentile -%}
        quantile_disc({{ expr }}, {{ measure.agg_params.percentile }})
    {%- elif measure.agg == 'percentile' -%} quantile_cont({{ expr }}, {{ measure.agg_params.percentile }})
    {%- else -%} {{ exceptions.raise_compiler_error("metrics_match_definitions: unsupported agg " ~ measure.agg) }}
    {%- endif -%}
{%- endmacro %}
