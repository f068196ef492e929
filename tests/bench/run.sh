#!/usr/bin/env bash
# `make bench`: every benchmark, results in docs/performance.md (each script writes its own block there):
#   the contact list (below, steps 1-4), segments (tests/bench/segments.py, PostgreSQL and SQLite), the follow-up
#   sequence tick (tests/bench/sequences.py), imports (tests/bench/imports.py, PostgreSQL and SQLite) and
#   broadcasts with real Celery workers (tests/bench/broadcasts.py). BENCH_ONLY=list runs the list alone.
#
# 1. a dedicated database (siyu_bench; BENCH_DB to change), created when missing and kept between runs: the
#    million-contact seed (a few minutes) is made once and reused;
# 2. migrate, the bench workspace and its owner (a new random password every run), crm_seed when it is empty;
# 3. gunicorn, 2 workers, DEBUG off, Redis (db 1) as the cache of counts and id lists;
# 4. tests/bench/bench.py signs in once and measures the unfiltered list (the baseline) and the list filtered by two
#    popular tags and a search, first page and page 200: server time p50/p95 (sequential requests) and throughput
#    under 16 connections (wrk), and writes the table into docs/performance.md.
#
# Needs PostgreSQL at 127.0.0.1:5432 (user postgres), Redis at 127.0.0.1:6379 and wrk (Debian package `wrk`).
# BENCH_CONTACTS, BENCH_DURATION (seconds per wrk run) and BENCH_SEQUENTIAL (requests per server-time sample)
# make a quicker run. tests/bench/explain.py prints the plans of the list's queries.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=.venv/bin
DB="${BENCH_DB:-siyu_bench}"
PORT="${BENCH_PORT:-8765}"
CONTACTS="${BENCH_CONTACTS:-1000000}"
PGARGS=(-h 127.0.0.1 -p 5432 -U postgres)
OUT=var/bench
mkdir -p "$OUT"

export DATABASE_URL="postgres://postgres@127.0.0.1:5432/${DB}"
export REDIS_URL="${BENCH_REDIS_URL:-redis://127.0.0.1:6379/1}"
export DJANGO_ENV=development DEBUG=false LOG_LEVEL=WARNING
export BENCH_USERNAME=bench
BENCH_PASSWORD="bench-$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')"
export BENCH_PASSWORD

if ! command -v wrk >/dev/null; then
    echo "wrk is missing: installing the Debian package"
    apt-get install -y wrk >/dev/null
fi
if ! psql "${PGARGS[@]}" -Atc "SELECT 1 FROM pg_database WHERE datname = '${DB}'" postgres | grep -q 1; then
    createdb "${PGARGS[@]}" "$DB"
fi

$BIN/python manage.py migrate --noinput -v 0
# Fresh planner statistics: a migration that adds a column (crm_contact.merged_into) leaves it without any, and
# with none PostgreSQL guesses that 0.5 % of the contacts have merged_into IS NULL and picks a 4-second plan.
psql "${PGARGS[@]}" -q -c "ANALYZE" "$DB"
have=$($BIN/python tests/bench/prepare.py user | tail -n 1)
if [ "$have" -eq 0 ]; then
    echo "Seeding ${CONTACTS} contacts into ${DB} (once; later runs reuse them)…"
    $BIN/python manage.py crm_seed --workspace bench --contacts "$CONTACTS" --seed 1 | tee "$OUT/seed.log"
    tail -n 1 "$OUT/seed.log" | sed 's/^Seeded bench: //' > "$OUT/seed.txt"
elif [ "$have" -ne "$CONTACTS" ]; then
    echo "The bench workspace holds ${have} contacts, not ${CONTACTS}: drop the database ${DB} to reseed." >&2
fi
$BIN/python tests/bench/prepare.py scenario > "$OUT/scenario.json"
echo "Filter: $(cat "$OUT/scenario.json")"

# The server, stopped however this script ends.
$BIN/gunicorn crm.wsgi -w 2 -b "127.0.0.1:${PORT}" --log-level warning > "$OUT/gunicorn.log" 2>&1 &
GUNICORN=$!
trap 'kill "$GUNICORN" 2>/dev/null || true; wait "$GUNICORN" 2>/dev/null || true' EXIT INT TERM
for _ in $(seq 1 60); do
    curl -fs -o /dev/null "http://127.0.0.1:${PORT}/login/" && break
    sleep 0.5
done

version=$(psql "${PGARGS[@]}" -Atc "SELECT split_part(version(), ' on ', 1)" "$DB")
settings=$(psql "${PGARGS[@]}" -Atc "SELECT string_agg(name || ' ' || current_setting(name), ', ') FROM unnest(
    ARRAY['shared_buffers', 'work_mem', 'max_parallel_workers_per_gather']) AS name" "$DB")
$BIN/python tests/bench/bench.py --base "http://127.0.0.1:${PORT}" --scenario "$OUT/scenario.json" \
    --seed-log "$OUT/seed.txt" --database-version "$version" --settings "$settings" --server-pid "$GUNICORN"

[ "${BENCH_ONLY:-}" = "list" ] && exit 0
kill "$GUNICORN" 2>/dev/null || true
# Fresh statistics for the tables crm_seed does not analyze itself (the tags' shares guide the segment plans).
psql "${PGARGS[@]}" -q -c "ANALYZE" "$DB"
$BIN/python tests/bench/segments.py
env -u DATABASE_URL $BIN/python tests/bench/segments.py  # SQLite: var/bench/segments.sqlite3
$BIN/python tests/bench/reports.py
$BIN/python tests/bench/sequences.py
DATABASE_URL="postgres://postgres@127.0.0.1:5432/siyu_bench_import" $BIN/python tests/bench/imports.py
DATABASE_URL="sqlite:///$(pwd)/var/bench/import.sqlite3" $BIN/python tests/bench/imports.py
REDIS_URL="redis://127.0.0.1:6379/2" $BIN/python tests/bench/broadcasts.py
# The public referral landing page /r/<code> under 16 connections (its own gunicorn, on the bench database).
$BIN/python tests/bench/landing.py
