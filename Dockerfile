# Slim image running `gateway serve`; the SQLite request log lives on the /data volume.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LITELLM_LOCAL_MODEL_COST_MAP=True \
    GATEWAY_CONFIG=/app/gateway.yaml \
    GATEWAY_DB=sqlite+aiosqlite:////data/gateway.db \
    GATEWAY_ROUTER_STATE=/data/gateway-router.json \
    GATEWAY_HOST=0.0.0.0 \
    GATEWAY_PORT=8080

WORKDIR /app
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY providers ./providers
RUN pip install --no-cache-dir . && useradd --create-home --uid 10001 gateway \
    && mkdir -p /data && chown gateway /data
COPY gateway.yaml ./gateway.yaml

USER gateway
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=2)" || exit 1
CMD ["gateway", "serve"]
