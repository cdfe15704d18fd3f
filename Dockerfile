# The project image: the locked Python stack, the shifu-dw packages, DAGs, dbt project and
# tracking plan. docker-compose.yml runs Airflow's services and the simulator from it.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    AIRFLOW_HOME=/opt/airflow \
    SHIFU_DATA_DIR=/data

RUN useradd --create-home --uid 50000 shifu \
    && install -d -o shifu -g shifu /opt/shifu /opt/airflow /opt/airflow/logs /data
WORKDIR /opt/shifu

# Dependencies first, in a layer of their own that code changes do not invalidate.
COPY pyproject.toml requirements.lock README.md ./
RUN mkdir simulator ingest \
    && touch simulator/__init__.py ingest/__init__.py \
    && pip install -c requirements.lock . \
    && rm -rf simulator ingest

COPY --chown=shifu:shifu . .
RUN pip install --no-deps -c requirements.lock .

USER shifu
