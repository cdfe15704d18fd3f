{{ config(materialized='incremental', unique_key='merchant_id') }}

with

source as (
    select * from {{ lake_table('shifu', 'merchant') }}
),

current_rows as (
    {{ latest_version('source', 'id', 'updated_at') }}
),

renamed as (
    select
        cast(id as bigint) as merchant_id,
        cast(user_id as bigint) as user_id,
        cast(merchant_name as varchar) as merchant_name,
        cast(merchant_type as varchar) as merchant_type,
        cast(region_id as bigint) as region_id,
        {{ pii_name('contact_name') }} as contact_name_token,
        {{ pii_phone('contact_phone') }} as contact_phone_token,
        cast(level as varchar) as merchant_level,
        cast(created_at as timestamp) as created_at,
        cast(updated_at as timestamp) as updated_at,
        cast(is_deleted as boolean) as is_deleted,
        dt as lake_dt
    from current_rows
)

select * from renamed
