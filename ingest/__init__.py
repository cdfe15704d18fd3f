"""Extract the source systems into the lake: relational tables, log files and tracking events.

Built by issue 3. Importable and runnable without Airflow (`python -m ingest ...`); see
ingest/README.md and DESIGN.md ("The lake").
"""
