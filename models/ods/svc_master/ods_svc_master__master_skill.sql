with

source as (
    select * from {{ lake_table('svc_master', 'master_skill', newest_only=true) }}
),

current_rows as (
    {{ latest_snapshot('source') }}
),

renamed as (
    select
        cast(master_id as bigint) as master_id,
        cast(category_code as varchar) as category_code,
        cast(gmt_create as timestamp) as created_at,
        dt as lake_dt
    from current_rows
)

select * from renamed
