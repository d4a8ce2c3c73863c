# One image for every process role: web (default), worker, beat.
#   docker build -t dictamesh .
#   docker run dictamesh                    # web (gunicorn on :8000)
#   docker run dictamesh asgi               # web over ASGI, with GraphQL subscriptions (WebSocket)
#   docker run dictamesh worker             # Celery worker (also runs the Kafka consumers)
#   docker run dictamesh beat               # Celery beat
#   docker run dictamesh manage migrate_schemas --shared

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY pyproject.toml README.md ./
COPY dictamesh ./dictamesh
COPY apps ./apps
COPY config ./config
RUN pip install .

FROM python:3.11-slim AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DJANGO_SETTINGS_MODULE=config.settings \
    DEBUG=false \
    KAFKA_TOPIC_SPEC=/app/deploy/kafka/topics.toml
# A fixed uid/gid: Kubernetes checks runAsNonRoot by number (deploy/k8s runs as 10001).
RUN groupadd --system --gid 10001 dictamesh \
    && useradd --system --uid 10001 --gid dictamesh --home /app dictamesh
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
COPY manage.py ./
COPY deploy/kafka ./deploy/kafka
COPY deploy/entrypoint.sh /usr/local/bin/dictamesh-entrypoint
# Static files for the admin are collected at build time with a throwaway key.
RUN SECRET_KEY=build-only DICTAMESH_CREDENTIALS_KEYS=$(python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())") \
    python manage.py collectstatic --noinput --verbosity 0 \
    && chown -R dictamesh:dictamesh /app
USER dictamesh
EXPOSE 8000 9808
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"
ENTRYPOINT ["dictamesh-entrypoint"]
CMD ["web"]
