{#- One row per page view (页面浏览), with the person and session it belongs to. Incremental
    by event day, like dw_fct_events. -#}
with

page_views as (
    select * from {{ ref('ods_events__page_view') }}
    where event_dt >= {{ recompute_from('view_dt', var('late_event_days')) }}
),

events as (
    select * from {{ ref('dw_fct_events') }}
    where event_name = 'page_view'
        and event_dt >= {{ recompute_from('view_dt', var('late_event_days')) }}
),

final as (
    select
        page_views.event_id as page_view_id,
        events.session_id,
        events.person_id,
        events.user_id,
        page_views.device_id,
        page_views.platform,
        page_views.event_at as viewed_at,
        page_views.event_dt as view_dt,
        page_views.page,
        page_views.page_type,
        page_views.title as page_title,
        page_views.order_id,
        events.referrer
    from page_views
    inner join events on page_views.event_id = events.event_id
)

select * from final
