# syntax=docker/dockerfile:1
# Stage 1 builds wheels of custid and every dependency; stage 2 installs them into a
# slim image that has no compilers, runs as an unprivileged user and only serves.
# Migrations are not run here: `custid migrate` is a one-shot command of its own
# (the `migrate` service in deploy/docker-compose.yml), run before replicas start.

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
COPY schemes ./schemes
COPY migrations ./migrations
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CUSTID_HOST=0.0.0.0 \
    CUSTID_PORT=8000
# A fixed uid/gid: the Kubernetes manifests run the pods as this user (runAsUser).
RUN groupadd --system --gid 65532 custid \
    && useradd --system --uid 65532 --gid custid --home-dir /srv/custid \
        --shell /usr/sbin/nologin custid \
    && mkdir -p /srv/custid/data \
    && chown -R custid:custid /srv/custid
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links=/wheels custid \
    && rm -rf /wheels
WORKDIR /srv/custid
USER custid:custid
EXPOSE 8000
# Liveness only; readiness (/readyz) is for the load balancer, which must not restart us.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
# uvicorn drains for up to 30 s on SIGTERM; give the container longer than that to stop.
STOPSIGNAL SIGTERM
CMD ["custid", "serve", "--host", "0.0.0.0"]
