{#- Tracking events ingest rejected (quarantine): one row per rejected line, with its reason. -#}
{{ quarantine_rows('events', 'tracking_quarantine') }}
