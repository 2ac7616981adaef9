# syntax=docker/dockerfile:1
# Stage 1 installs custid and exactly the dependencies uv.lock names into a venv; stage 2
# copies that venv into a slim image that has no build tools, runs as an unprivileged
# user and only serves.
# Migrations are not run here: `custid migrate` is a one-shot command of its own
# (the `migrate` service in deploy/docker-compose.yml), run before replicas start.

FROM python:3.11-slim AS build
# The same uv as the Makefile, and the exact versions and hashes of uv.lock: an image
# built today and one built next month hold the same packages.
RUN pip install --no-cache-dir uv==0.13.9
ENV UV_PROJECT_ENVIRONMENT=/opt/custid \
    UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy
WORKDIR /src
# Dependencies first, in a layer of their own that a code change leaves cached. The
# client is a workspace member, so its pyproject.toml is part of the lock's context.
COPY pyproject.toml uv.lock README.md ./
COPY clients/python/pyproject.toml clients/python/README.md ./clients/python/
RUN uv sync --locked --no-default-groups --no-install-project
COPY app ./app
COPY schemes ./schemes
COPY migrations ./migrations
RUN uv sync --locked --no-default-groups --no-editable

FROM python:3.11-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CUSTID_HOST=0.0.0.0 \
    CUSTID_PORT=8000 \
    PATH=/opt/custid/bin:$PATH
# A fixed uid/gid: the Kubernetes manifests run the pods as this user (runAsUser).
RUN groupadd --system --gid 65532 custid \
    && useradd --system --uid 65532 --gid custid --home-dir /srv/custid \
        --shell /usr/sbin/nologin custid \
    && mkdir -p /srv/custid/data \
    && chown -R custid:custid /srv/custid
COPY --from=build /opt/custid /opt/custid
WORKDIR /srv/custid
USER custid:custid
EXPOSE 8000
# Liveness only; readiness (/readyz) is for the load balancer, which must not restart us.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
# uvicorn drains for up to 30 s on SIGTERM; give the container longer than that to stop.
STOPSIGNAL SIGTERM
CMD ["custid", "serve", "--host", "0.0.0.0"]
