{#- Application-log lines ingest rejected (quarantine): one row per line, with its reason. -#}
{{ quarantine_rows('app', 'entries_quarantine') }}
