{#- Customers, personal data protected: name and phone as tokens, the address as its district,
    no coordinates. -#}
with

customers as (
    select * from {{ ref('ods_shifu__customer') }}
),

regions as (
    select * from {{ ref('dw_dim_regions') }}
),

final as (
    select
        customers.customer_id,
        customers.user_id,
        customers.name_token,
        customers.phone_token,
        customers.region_id,
        regions.city_code,
        customers.address_district,
        customers.created_at,
        customers.updated_at
    from customers
    left join regions on customers.region_id = regions.region_id
)

select * from final
