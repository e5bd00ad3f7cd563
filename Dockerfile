# One image for the api, worker, migrate and simulator services (see docker-compose.yml).
FROM python:3.12-slim
# PYTHONPATH: the service runs from /app, next to migrations/ and graphql/operations/ (found
# beside the package); `pip install .` below brings the dependencies and the command, but its
# copy of the package in site-packages would find neither.
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PYTHONPATH=/app
WORKDIR /app
COPY pyproject.toml README.md ./
COPY service ./service
COPY jobs ./jobs
COPY migrations ./migrations
COPY graphql ./graphql
# GraphiQL's scripts from the npm registry (pinned, hash-checked): the image needs no CDN.
RUN python -m service.dev.web_assets && test -f service/http/web/static/graphiql.min.js \
    && pip install . && useradd --system --uid 10001 app
USER app
EXPOSE 8000
CMD ["buying-groups", "serve", "--host", "0.0.0.0", "--port", "8000"]
