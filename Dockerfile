# The project image: the locked Python stack, the shifu-dw packages, DAGs, dbt project and
# tracking plan. docker-compose.yml runs Airflow's services and the simulator from it.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    AIRFLOW_HOME=/opt/airflow \
    SHIFU_DATA_DIR=/data

# One group per RPT domain and one for the whole serving copy (docs/adr/0001): publishing gives
# each domain's files to its group, so the publisher (shifu) is a member of all of them. The gids
# are fixed so that other containers (Metabase: group_add) and hosts can use the same numbers.
RUN groupadd --gid 50100 shifu-serving \
    && gid=50101 && for domain in orders finance masters merchants traffic ops; do \
        groupadd --gid $gid shifu-$domain && gid=$((gid + 1)); done \
    && useradd --create-home --uid 50000 \
        --groups shifu-serving,shifu-orders,shifu-finance,shifu-masters,shifu-merchants,shifu-traffic,shifu-ops \
        shifu \
    && install -d -o shifu -g shifu /opt/shifu /opt/airflow /opt/airflow/logs /data
WORKDIR /opt/shifu

# Dependencies first, in a layer of their own that code changes do not invalidate.
COPY pyproject.toml requirements.lock README.md ./
RUN mkdir simulator ingest \
    && touch simulator/__init__.py ingest/__init__.py \
    && pip install -c requirements.lock . \
    && rm -rf simulator ingest

COPY --chown=shifu:shifu . .
# Installed in place (editable), as `make setup` does: the code runs from /opt/shifu, and the
# C modules (ingest/_nginx.c, ingest/_events.c, ingest/_dedupe.c) are built next to their
# sources. A C compiler only for this step, removed after it.
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && pip install --no-deps -c requirements.lock -e . \
    && python -c "import ingest._nginx, ingest._events, ingest._dedupe" \
    && apt-get purge -y --auto-remove gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*

USER shifu
