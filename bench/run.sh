#!/usr/bin/env bash
# The load benchmarks: installs wrk if missing, builds the release server, and runs bench/bench.py,
# which seeds each scale once (kept in /var/tmp/crm-bench), drives the scenarios and the pgbench
# ceilings, and rewrites docs/benchmarks.md. Arguments go to bench.py (--scales, --duration, ...).
# `bench/run.sh --login-flood` measures a login flood instead (bench/login_flood.py), and
# `bench/run.sh --batch` batches against single requests (bench/batch.py), and `bench/run.sh --import` a
# 100,000-row spreadsheet import (bench/import.py), `bench/run.sh --changes` the changes feed
# (bench/changes.py), `bench/run.sh --webhooks` webhook latency (bench/webhooks.py), and
# `bench/run.sh --reports` the reports at 1M clients (bench/reports.py).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null; then
    apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi
if ! command -v pgbench >/dev/null && [ ! -x /usr/lib/postgresql/15/bin/pgbench ]; then
    apt-get update -qq && apt-get install -y -qq postgresql-15 >/dev/null
fi
cargo build --release -j2 --locked
if [ "${1:-}" = "--login-flood" ]; then
    shift
    exec python3 bench/login_flood.py "$@"
fi
if [ "${1:-}" = "--import" ]; then
    shift
    exec python3 bench/import.py "$@"
fi
if [ "${1:-}" = "--changes" ]; then
    shift
    exec python3 bench/changes.py "$@"
fi
if [ "${1:-}" = "--webhooks" ]; then
    shift
    exec python3 bench/webhooks.py "$@"
fi
if [ "${1:-}" = "--reports" ]; then
    shift
    exec python3 bench/reports.py "$@"
fi
if [ "${1:-}" = "--batch" ]; then
    shift
    exec python3 bench/batch.py "$@"
fi
exec python3 bench/bench.py "$@"
