with

source as (
    select * from {{ lake_table('shifu', 'master', newest_only=true) }}
),

current_rows as (
    {{ latest_snapshot('source') }}
),

renamed as (
    select
        cast(id as bigint) as master_id,
        cast(user_id as bigint) as user_id,
        {{ pii_name('real_name') }} as name_token,
        {{ pii_phone('phone') }} as phone_token,
        {{ pii_id_card('id_card_no') }} as id_card_token,
        cast(region_id as bigint) as region_id,
        cast(home_lat as decimal(9, 6)) as home_lat,
        cast(home_lng as decimal(9, 6)) as home_lng,
        cast(service_radius_km as integer) as service_radius_km,
        cast(skills as varchar) as skills_json,
        cast(status as varchar) as master_status,
        cast(credit_level as integer) as credit_level,
        cast(rating_avg as decimal(3, 2)) as rating_avg,
        cast(completed_orders as integer) as completed_orders,
        cast(created_at as timestamp) as created_at,
        cast(updated_at as timestamp) as updated_at,
        cast(is_deleted as boolean) as is_deleted,
        dt as lake_dt
    from current_rows
)

select * from renamed
