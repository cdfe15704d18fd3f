{#- A day whose volume collapses fails: the newest day's row count (by `date_column`) must be at
    least `ratio` (var volume_collapse_ratio, default 0.3) of the average of the 7 days before
    it. Needs at least 3 earlier days to judge; a lake that lost a day's extract, or a source
    that stopped writing, shows up here rather than as a quiet dip in the reports. -#}
{% test volume_has_not_collapsed(model, date_column, ratio=none) %}
{%- set ratio = ratio if ratio is not none else var('volume_collapse_ratio') -%}
with

daily as (
    select {{ date_column }} as day, count(*) as row_count
    from {{ model }}
    where {{ date_column }} is not null
    group by all
),

newest as (
    select max(day) as day from daily
),

baseline as (
    select count(*) as days, avg(daily.row_count) as average_rows
    from daily, newest
    where daily.day >= newest.day - 7 and daily.day < newest.day
)

select
    newest.day,
    daily.row_count,
    baseline.average_rows,
    {{ ratio }} as minimum_ratio
from newest
inner join daily on daily.day = newest.day
cross join baseline
where baseline.days >= 3
    and daily.row_count < {{ ratio }} * baseline.average_rows
{% endtest %}
