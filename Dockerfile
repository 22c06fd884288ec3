# The blobflow reference server (`blobflow serve`) in a container.
#   docker compose up -d        (see docker-compose.yml: named volume + healthcheck)
#   docker build -t blobflow . && docker run -p 8000:8000 -v blobflow-data:/data blobflow
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
# Only what the package needs, so the layer is rebuilt only when the code changes.
COPY pyproject.toml README.md LICENSE ./
COPY blobflow ./blobflow
# EXTRAS="[server-scale]": the PostgreSQL and S3 drivers (docker-compose.yml's scale profile).
ARG EXTRAS=""
RUN pip install ".${EXTRAS}" \
    && useradd --system --uid 10001 --home-dir /data blobflow \
    && mkdir -p /data && chown blobflow /data

USER blobflow
VOLUME ["/data"]
EXPOSE 8000

# /healthz needs no token and answers 200 once the data dir and database are open.
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=3)"]

# SIGTERM (docker stop) shuts the server down cleanly; the token comes from BLOBFLOW_TOKEN
# (if unset, the first start generates one and prints it: `docker logs <container>`).
STOPSIGNAL SIGTERM
CMD ["blobflow", "serve", "--host", "0.0.0.0", "--port", "8000", "--data-dir", "/data"]
