# custid: build a wheel, then run it as a non-root user on a slim image.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY schemes ./schemes
COPY migrations ./migrations
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 custid
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER custid
WORKDIR /home/custid
ENV CUSTID_HOST=0.0.0.0 CUSTID_PORT=8000
EXPOSE 8000
# Migrations run separately: `docker run IMAGE custid migrate`.
CMD ["custid", "serve"]
