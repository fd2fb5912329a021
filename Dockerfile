# syntax=docker/dockerfile:1
# Builder: wheels for the pinned runtime dependencies (requirements.lock, hash-checked) and for
# tenantgraph itself. No dev tools, no embedded PostgreSQL/Redis: production points at real ones.
FROM python:3.11-slim AS builder
WORKDIR /src
COPY requirements.lock ./
RUN pip wheel --no-cache-dir --require-hashes --wheel-dir /wheels -r requirements.lock
COPY pyproject.toml README.md ./
COPY domain domain
COPY tables tables
COPY services services
COPY resolvers resolvers
COPY schema schema
COPY workers workers
COPY server server
COPY extensions extensions
COPY telemetry telemetry
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

# Runtime: those wheels installed offline, nothing else, run as an unprivileged user.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    TG_ENV=production HOST=0.0.0.0 PORT=8000 DATA_DIR=/tmp/tenantgraph
RUN groupadd --system --gid 10001 tenantgraph \
    && useradd --system --uid 10001 --gid tenantgraph --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin tenantgraph
# The builder checked every download against the lock's hashes; these are exactly those wheels.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --no-deps /wheels/*.whl
USER 10001:10001
WORKDIR /tmp
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
CMD ["tenantgraph", "serve"]
