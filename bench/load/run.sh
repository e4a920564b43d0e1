#!/usr/bin/env bash
# HTTP load benchmark: every scenario at 32 connections for 10 s, on SQLite
# and PostgreSQL, on the demo data (`fieldopt seed`) and on a large day
# (200 technicians, 2000 jobs). Writes docs/load-benchmarks.md.
#
#   cargo build --release --locked -p fieldopt-server -p fieldopt-bench
#   bash bench/load/run.sh
#
# PostgreSQL: a throw-away database on 127.0.0.1:5432 as user postgres
# (override with BENCH_PG_URL=postgres://user@host:port).
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=target/release
PG_SERVER=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}
CONNECTIONS=${CONNECTIONS:-32}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
PORT=${PORT:-18080}
OUT=docs/load-benchmarks.md
RESULTS=$(mktemp)
TODAY=$(date -u +%F)
LARGE_DAY=2031-01-15
SCENARIOS="technicians jobs-by-date job summary can-do assign-unassign"

start_server() {
    # Rate limiting off: the driver is one client making thousands of requests.
    DATABASE_URL="$1" FIELDOPT_BIND="127.0.0.1:$PORT" FIELDOPT_RATE_LIMIT_RPS=0 RUST_LOG=warn "$BIN/fieldopt" serve >/dev/null 2>&1 &
    SERVER=$!
    for _ in $(seq 1 100); do
        curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null && return 0
        sleep 0.1
    done
    echo "server did not start" >&2
    exit 1
}

stop_server() {
    kill -TERM "$SERVER"
    wait "$SERVER" || true
}

measure() { # label database_url dataset
    local label=$1 url=$2 dataset=$3 day
    if [ "$dataset" = seed ]; then
        DATABASE_URL="$url" "$BIN/fieldopt" seed >/dev/null
        day=$TODAY
    else
        DATABASE_URL="$url" "$BIN/fieldopt" migrate >/dev/null
    fi
    start_server "$url"
    if [ "$dataset" = large ]; then
        "$BIN/fieldopt-load" populate --url "http://127.0.0.1:$PORT" --technicians 200 --jobs 2000 --date "$LARGE_DAY"
        day=$LARGE_DAY
    fi
    for scenario in $SCENARIOS; do
        "$BIN/fieldopt-load" run --url "http://127.0.0.1:$PORT" --scenario "$scenario" \
            --connections "$CONNECTIONS" --duration-secs "$SECONDS_PER_RUN" --date "$day" \
            --label "$label/$dataset" | tee -a "$RESULTS"
    done
    stop_server
}

for dataset in seed large; do
    dir=$(mktemp -d)
    measure sqlite "sqlite://$dir/bench.db" "$dataset"
    rm -rf "$dir"
    name="fieldopt_bench_$$_$dataset"
    psql "$PG_SERVER/postgres" -qc "CREATE DATABASE $name" >/dev/null
    measure postgres "$PG_SERVER/$name" "$dataset"
    psql "$PG_SERVER/postgres" -qc "DROP DATABASE $name WITH (FORCE)" >/dev/null
done

python3 - "$RESULTS" "$OUT" "$CONNECTIONS" "$SECONDS_PER_RUN" <<'PY'
import json, subprocess, sys, time, os
results, out, connections, seconds = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
rows = [json.loads(l) for l in open(results) if l.startswith("{")]
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
lines = [
    "# HTTP load benchmark", "",
    f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, commit {commit}, {os.cpu_count()} cores shared by the server "
    f"and the load driver (so the numbers are a floor), {connections} connections, {seconds} s per scenario after 1 s of warm-up, "
    "release build, `RUST_LOG=warn`.", "",
    "Command: `cargo build --release --locked -p fieldopt-server -p fieldopt-bench && bash bench/load/run.sh`", "",
    "Data sets: `seed` = `fieldopt seed` (40 technicians, 300 jobs over two days; the first day is queried); "
    "`large` = 200 technicians and 2000 jobs on one date, created through the API by `fieldopt-load populate`.", "",
    "`assign-unassign`: one operation = POST /assignments + POST /assignments/unassign on the same job; "
    "requests/s counts both requests, latencies are per request.", "",
    "| backend/data | scenario | requests/s | p50 ms | p99 ms | max ms | errors | 409s |",
    "|---|---|---:|---:|---:|---:|---:|---:|",
]
for r in rows:
    lines.append(f"| {r['label']} | {r['scenario']} | {r['requests_per_sec']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
                 f"{r['max_ms']:.1f} | {r['errors']} | {r['conflicts']} |")
tech = [r for r in rows if r["scenario"] == "Technicians" and r["label"].endswith("/seed")]
if tech:
    lines += ["", "Target (issue 3): GET /technicians/ on the seed data at least 20 × the original Python service "
              "(300–600 requests/s, p99 0.4–0.5 s), i.e. ≥ 12 000 requests/s, with p99 under 10 ms."]
    for r in tech:
        met = r["requests_per_sec"] >= 12000 and r["p99_ms"] < 10
        lines.append(f"- {r['label']}: {r['requests_per_sec']:.0f} requests/s "
                     f"({r['requests_per_sec'] / 600:.0f}–{r['requests_per_sec'] / 300:.0f} × the original), p99 {r['p99_ms']:.2f} ms: "
                     f"{'met' if met else 'NOT met'}.")
open(out, "w").write("\n".join(lines) + "\n")
print("wrote", out)
PY
