with

source as (
    select * from {{ lake_table('svc_master', 'master_profile', newest_only=true) }}
),

current_rows as (
    {{ latest_snapshot('source') }}
),

renamed as (
    select
        cast(id as bigint) as master_id,
        cast(user_id as bigint) as user_id,
        {{ pii_name('real_name') }} as name_token,
        {{ pii_phone('mobile') }} as phone_token,
        {{ pii_id_card('id_card_no') }} as id_card_token,
        cast(region_id as bigint) as region_id,
        cast(home_latitude as decimal(9, 6)) as home_lat,
        cast(home_longitude as decimal(9, 6)) as home_lng,
        cast(service_radius_m as integer) as service_radius_m,
        cast(master_status as smallint) as master_status_code,
        cast(credit_level as integer) as credit_level,
        cast(rating_avg as decimal(3, 2)) as rating_avg,
        cast(completed_orders as integer) as completed_orders,
        cast(gmt_create as timestamp) as created_at,
        cast(gmt_modified as timestamp) as updated_at,
        cast(deleted as boolean) as is_deleted,
        dt as lake_dt
    from current_rows
)

select * from renamed
