"""Serving the published warehouse: the catalogue, per-domain access, the dashboard.

warehouse/publish.py swaps in the serving copy; this package describes it (catalogue.py),
splits it into one file per domain for its readers (domains.py) and draws the business
dashboard and data dictionary from it (dashboard.py, dictionary.py). docs/adr/ says why.
"""
