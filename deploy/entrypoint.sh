#!/bin/sh
# Process roles of the one DictaMesh image.
set -e
role="${1:-web}"
[ $# -gt 0 ] && shift
case "$role" in
  web)     exec gunicorn -c python:config.gunicorn config.wsgi:application "$@" ;;
  # The same API over ASGI: HTTP plus GraphQL subscriptions over WebSocket at /graphql.
  asgi)    exec gunicorn -c python:config.gunicorn -k config.asgi_worker.AsgiWorker \
             config.asgi:application "$@" ;;
  # --quiet: no startup banner; every line is JSON (config/celery.py sets the logging up).
  worker)  exec celery -A config --quiet worker --loglevel "${LOG_LEVEL:-INFO}" "$@" ;;
  beat)    exec celery -A config --quiet beat --loglevel "${LOG_LEVEL:-INFO}" \
             --schedule /tmp/celerybeat-schedule "$@" ;;
  manage)  exec python manage.py "$@" ;;
  *)       exec "$role" "$@" ;;
esac
