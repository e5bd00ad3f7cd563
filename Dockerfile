# One image for the api, worker, migrate and simulator services (see docker-compose.yml).
FROM python:3.12-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY service ./service
COPY jobs ./jobs
COPY migrations ./migrations
COPY graphql ./graphql
# GraphiQL's and the console's modules from the npm registry (pinned, hash-checked): the image
# needs no CDN. `pip install .` builds the wheel, which carries the migrations and the shipped
# operations inside the package; the sources are removed after, so the service runs as
# installed, from any directory.
RUN python -m service.dev.web_assets && test -f service/http/web/static/graphiql.min.js \
    && pip install . && cd / && rm -rf /src && useradd --system --uid 10001 app
WORKDIR /home/app
USER app
EXPOSE 8000
CMD ["buying-groups", "serve", "--host", "0.0.0.0", "--port", "8000"]
