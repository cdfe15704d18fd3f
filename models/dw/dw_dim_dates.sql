{#- The calendar (also the semantic layer's time spine): one row per day. -#}
with

days as (
    select cast(day as date) as date_day
    from generate_series(date '2020-01-01', date '2030-12-31', interval 1 day) as spine (day)
),

final as (
    select
        date_day,
        cast(extract(year from date_day) as integer) as year_number,
        cast(extract(month from date_day) as integer) as month_number,
        cast(extract(day from date_day) as integer) as day_of_month,
        cast(isodow(date_day) as integer) as iso_day_of_week,
        isodow(date_day) in (6, 7) as is_weekend,
        cast(date_trunc('week', date_day) as date) as week_start_date,
        cast(date_trunc('month', date_day) as date) as month_start_date
    from days
)

select * from final
