#!/bin/sh
# Process roles of the one DictaMesh image.
set -e
role="${1:-web}"
[ $# -gt 0 ] && shift
case "$role" in
  web)     exec gunicorn config.wsgi:application --bind 0.0.0.0:8000 \
             --workers "${WEB_CONCURRENCY:-2}" --access-logfile - "$@" ;;
  worker)  exec celery -A config worker --loglevel "${LOG_LEVEL:-INFO}" "$@" ;;
  beat)    exec celery -A config beat --loglevel "${LOG_LEVEL:-INFO}" \
             --schedule /tmp/celerybeat-schedule "$@" ;;
  manage)  exec python manage.py "$@" ;;
  *)       exec "$role" "$@" ;;
esac
