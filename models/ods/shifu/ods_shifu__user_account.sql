{{ config(materialized='incremental', unique_key='user_id') }}

with

source as (
    select * from {{ lake_table('shifu', 'user_account') }}
),

current_rows as (
    {{ latest_version('source', 'id', 'updated_at') }}
),

renamed as (
    select
        cast(id as bigint) as user_id,
        cast(role as varchar) as account_role,
        {{ pii_phone('phone') }} as phone_token,
        {{ pii_name('nickname') }} as nickname_token,
        cast(register_channel as varchar) as register_channel,
        cast(status as varchar) as account_status,
        cast(created_at as timestamp) as created_at,
        cast(updated_at as timestamp) as updated_at,
        cast(is_deleted as boolean) as is_deleted,
        dt as lake_dt
    from current_rows
)

select * from renamed
