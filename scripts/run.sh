#!/usr/bin/env bash
# `make run`: migrate, create and seed the demo workspace once, then serve the web app with a Celery worker
# (beat embedded) until Ctrl-C. Embedded defaults: SQLite and kombu's filesystem broker in var/; set DATABASE_URL
# and REDIS_URL to use PostgreSQL and Redis instead.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
PORT="${PORT:-8000}"

$BIN/python manage.py migrate --noinput
$BIN/python manage.py crm_demo --url "http://127.0.0.1:${PORT}/"

# Ctrl-C (or any exit) stops the web server and the worker together.
trap 'trap - INT TERM EXIT; kill 0 2>/dev/null' INT TERM EXIT
$BIN/celery -A crm worker --beat --concurrency 1 --loglevel INFO &
$BIN/python manage.py runserver "127.0.0.1:${PORT}" &
wait
