# Probity app image. Runs as a non-root user; data and keys live in the /data volume.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    PROBITY_DATA_DIR=/data

RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin probity \
 && mkdir -p /app /data && chown probity:probity /data

WORKDIR /app
# Exact versions with hashes first (a layer that survives code changes), then the project itself.
COPY requirements/lock.txt ./requirements/
RUN pip install --no-cache-dir --require-hashes -r requirements/lock.txt
COPY pyproject.toml README.md alembic.ini ./
COPY crypto ./crypto
COPY service ./service
COPY routes ./routes
COPY alembic ./alembic
RUN pip install --no-cache-dir --no-deps . && rm -rf build *.egg-info

USER probity
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"
# `probity init` (interactive, once) must have run against the same database and /data volume.
CMD ["probity", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
