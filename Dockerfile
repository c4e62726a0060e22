# One image for every forgood process: the stream worker, the ClickHouse sink, the traffic
# simulator and the one-shot commands (campaigns apply, dlq, totals). The command picks the role:
#
#   docker build -t forgood:0.1.0 .
#   docker run --rm forgood:0.1.0                 # forgood --help
#   docker run --rm -e FORGOOD_KAFKA_BOOTSTRAP=kafka:9092 forgood:0.1.0 worker
#
# docker-compose.yml runs the whole production-like stack from this image.
#
# Two stages on the same pinned base: the first builds a virtualenv with forgood and its pinned
# dependencies (pyproject.toml), the second copies only that virtualenv. Every dependency has a
# binary wheel for linux/amd64; on other architectures faust-streaming is built from source, so
# the build stage installs a compiler there (it never reaches the runtime image).

FROM python:3.11-slim-bookworm AS build

ARG TARGETARCH
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN if [ "${TARGETARCH:-}" != "amd64" ]; then \
        apt-get update \
        && apt-get install -y --no-install-recommends build-essential \
        && rm -rf /var/lib/apt/lists/*; \
    fi

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
# The files the package is built from (pyproject.toml: readme + [tool.setuptools] packages).
COPY pyproject.toml README.md ./
COPY forgood ./forgood
COPY producers ./producers
COPY streams ./streams
COPY sinks ./sinks
RUN pip install --no-cache-dir . \
    && forgood --help > /dev/null


FROM python:3.11-slim-bookworm

LABEL org.opencontainers.image.title="forgood" \
      org.opencontainers.image.description="Live, exact counters for charity hashtag challenges: Kafka -> Faust -> ClickHouse" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.licenses="Apache-2.0"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    FORGOOD_STATE_DIR=/var/lib/forgood

# An unprivileged user with a numeric id (so runAsNonRoot checks can verify it); its home is
# the state directory (the worker's local table data lives under it).
RUN groupadd --system --gid 10001 forgood \
    && useradd --system --uid 10001 --gid forgood --home-dir /var/lib/forgood \
       --no-create-home --shell /usr/sbin/nologin forgood \
    && mkdir -p /var/lib/forgood \
    && chown forgood:forgood /var/lib/forgood

COPY --from=build /opt/venv /opt/venv

WORKDIR /app
# The example campaigns, for `forgood campaigns apply /app/campaigns.example.yaml`.
COPY campaigns.example.yaml /app/campaigns.example.yaml

USER 10001:10001

# Prometheus /metrics of the worker (FORGOOD_WORKER_METRICS_PORT) and the sink
# (FORGOOD_SINK_METRICS_PORT). No HEALTHCHECK here: the port to probe depends on the role,
# so docker-compose.yml defines one per service.
EXPOSE 9464 9465

ENTRYPOINT ["forgood"]
CMD ["--help"]
