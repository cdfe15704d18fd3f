"""Build the warehouse with dbt and publish it (DESIGN.md, "Publishing"): write, audit, publish.

Importable and runnable without Airflow: `python -m warehouse build|publish`.
"""
