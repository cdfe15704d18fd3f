{#- nginx access-log lines ingest rejected (quarantine): one row per line, with its reason. -#}
{{ quarantine_rows('nginx', 'access_quarantine') }}
