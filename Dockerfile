# trade-monitor: the daemon in a slim image. State lives in the /app/state volume.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TRADE_MONITOR_CONFIG=/app/config.yaml

WORKDIR /app
COPY pyproject.toml README.md ./
COPY monitor/ monitor/
RUN pip install --no-cache-dir . \
    && useradd --system --uid 10001 --no-create-home monitor \
    && mkdir -p /app/state && chown 10001 /app/state
COPY config.yaml ./
COPY rules/ rules/
COPY seeds/ seeds/

USER 10001
VOLUME ["/app/state"]

# Healthy while the config and rules are valid and the state file is readable.
HEALTHCHECK --interval=1m --timeout=20s --start-period=30s --retries=3 \
    CMD ["trade-monitor", "status"]

CMD ["trade-monitor", "run"]
