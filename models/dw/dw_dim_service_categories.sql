with

categories as (
    select * from {{ ref('ods_shifu__service_category') }}
),

final as (
    select
        categories.category_id,
        categories.category_code,
        categories.category_name_zh,
        categories.category_name_en,
        categories.parent_category_id,
        parents.category_code as parent_category_code,
        not exists (
            select 1 from categories as children
            where children.parent_category_id = categories.category_id
        ) as is_leaf,
        categories.base_price_yuan,
        categories.platform_fee_rate
    from categories
    left join categories as parents
        on categories.parent_category_id = parents.category_id
)

select * from final
