{{ config(materialized='incremental', unique_key='customer_id') }}

with

source as (
    select * from {{ lake_table('shifu', 'customer') }}
),

current_rows as (
    {{ latest_version('source', 'id', 'updated_at') }}
),

renamed as (
    select
        cast(id as bigint) as customer_id,
        cast(user_id as bigint) as user_id,
        {{ pii_name('name') }} as name_token,
        {{ pii_phone('phone') }} as phone_token,
        cast(region_id as bigint) as region_id,
        {{ pii_address('address') }} as address_district,
        cast(lat as decimal(9, 6)) as lat,
        cast(lng as decimal(9, 6)) as lng,
        cast(created_at as timestamp) as created_at,
        cast(updated_at as timestamp) as updated_at,
        dt as lake_dt
    from current_rows
)

select * from renamed
