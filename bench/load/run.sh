#!/usr/bin/env bash
# The HTTP load benchmark suite, one command:
#
#   cargo build --release --locked -p fieldopt-server -p fieldopt-bench
#   bash bench/load/run.sh            # full run, writes docs/load-benchmarks.md
#   bash bench/load/run.sh --smoke    # < 90 s check that every scenario runs
#
# Every scenario on SQLite and PostgreSQL, on the seed data (`fieldopt seed`)
# and on the fleet data set (1 000 technicians, 20 000 jobs over 10 days,
# created through the API), at each connection count; RUNS consecutive
# windows of SECONDS_PER_RUN seconds per measurement, medians reported, each
# throughput also as a ratio to GET /healthz on the same server and
# connection count. Peak RSS (VmHWM) of the server after the reads and at
# the end. Then the event stream: how soon a created job's event reaches
# STREAM_SUBSCRIBERS open streams. See docs/benchmarks.md ("HTTP load") for
# the knobs; SCENARIOS="assign-unassign stream-latency" (for example) runs
# only those (healthz always runs: every ratio needs it).
#
# PostgreSQL: a throw-away database per data set on BENCH_PG_URL (default
# postgres://postgres@127.0.0.1:5432), created from its BENCH_PG_ADMIN_DB
# (default postgres) and dropped at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."

SMOKE=${SMOKE:-0}
for arg in "$@"; do
    case $arg in
        --smoke) SMOKE=1 ;;
        *) echo "usage: bash bench/load/run.sh [--smoke]" >&2; exit 2 ;;
    esac
done

BIN=${BIN:-target/release}
PG_SERVER=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}
PG_ADMIN_DB=${BENCH_PG_ADMIN_DB:-postgres}
PORT=${PORT:-18080}
BACKENDS=${BACKENDS:-sqlite postgres}
DATASETS=${DATASETS:-seed fleet}
PLAN_TIME_LIMIT_MS=${PLAN_TIME_LIMIT_MS:-200}
FLEET_DAY=2031-01-15
if [ "$SMOKE" = 1 ]; then
    # Fixed, so CI always checks the same thing quickly.
    CONNECTIONS=8 RUNS=1 SECONDS_PER_RUN=1 WARMUP_MS=200 PLAN_CONNECTIONS=1
    FLEET_TECHNICIANS=50 FLEET_JOBS=500 FLEET_DAYS=2
    STREAM_SUBSCRIBERS=5 STREAM_EVENTS=10
    OUT=${OUT:-$(mktemp --suffix=-load-smoke.md)}
else
    CONNECTIONS=${CONNECTIONS:-1 8 32 128}
    RUNS=${RUNS:-3}
    SECONDS_PER_RUN=${SECONDS_PER_RUN:-5}
    WARMUP_MS=${WARMUP_MS:-500}
    # Plans run at most FIELDOPT_PLAN_CONCURRENCY (the cores) at once; more
    # connections would measure 503s.
    PLAN_CONNECTIONS=${PLAN_CONNECTIONS:-1 2}
    FLEET_TECHNICIANS=${FLEET_TECHNICIANS:-1000}
    FLEET_JOBS=${FLEET_JOBS:-20000}
    FLEET_DAYS=${FLEET_DAYS:-10}
    STREAM_SUBSCRIBERS=${STREAM_SUBSCRIBERS:-100}
    STREAM_EVENTS=${STREAM_EVENTS:-200}
    OUT=${OUT:-docs/load-benchmarks.md}
fi
SCENARIOS=${SCENARIOS:-all}
READS="healthz technicians jobs-by-date jobs-page job summary can-do best-technician"
for binary in "$BIN/fieldopt" "$BIN/fieldopt-load"; do
    [ -x "$binary" ] || { echo "missing $binary (build it, or set BIN)" >&2; exit 1; }
done

RESULTS=$(mktemp)
SERVER=
PG_DB=
SQLITE_DIR=
cleanup() {
    if [ -n "$SERVER" ]; then kill -TERM "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; fi
    if [ -n "$PG_DB" ]; then psql "$PG_SERVER/$PG_ADMIN_DB" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null || true; fi
    if [ -n "$SQLITE_DIR" ]; then rm -rf "$SQLITE_DIR"; fi
    rm -f "$RESULTS"
}
trap cleanup EXIT

note() { # a JSON line for the report
    echo "$1" >>"$RESULTS"
}

start_server() { # database_url
    # Rate limiting off: the driver is one client making thousands of requests.
    DATABASE_URL="$1" FIELDOPT_BIND="127.0.0.1:$PORT" FIELDOPT_RATE_LIMIT_RPS=0 RUST_LOG=warn \
        "$BIN/fieldopt" serve >/dev/null 2>&1 &
    SERVER=$!
    for _ in $(seq 1 300); do
        curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null && return 0
        sleep 0.1
    done
    echo "server did not start" >&2
    exit 1
}

stop_server() {
    kill -TERM "$SERVER"
    wait "$SERVER" || true
    SERVER=
}

record_rss() { # label phase
    local hwm rss
    hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$SERVER/status")
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$SERVER/status")
    note "{\"kind\": \"rss\", \"label\": \"$1\", \"phase\": \"$2\", \"vmhwm_kb\": $hwm, \"vmrss_kb\": $rss}"
}

selected() { # scenario
    [ "$1" = healthz ] || [ "$SCENARIOS" = all ] || [[ " $SCENARIOS " == *" $1 "* ]]
}

load() { # label day scenario connections
    selected "$3" || return 0
    "$BIN/fieldopt-load" run --url "http://127.0.0.1:$PORT" --scenario "$3" --connections "$4" \
        --duration-secs "$SECONDS_PER_RUN" --runs "$RUNS" --warmup-ms "$WARMUP_MS" --date "$2" \
        --plan-time-limit-ms "$PLAN_TIME_LIMIT_MS" --label "$1" | tee -a "$RESULTS"
}

measure() { # backend database_url dataset
    local label="$1/$3" url=$2 dataset=$3 day started
    started=$SECONDS
    if [ "$dataset" = seed ]; then
        day=$(date -u +%F)
        DATABASE_URL="$url" "$BIN/fieldopt" seed >/dev/null
        start_server "$url"
    else
        day=$FLEET_DAY
        DATABASE_URL="$url" "$BIN/fieldopt" migrate >/dev/null
        start_server "$url"
        local t0=$SECONDS
        "$BIN/fieldopt-load" populate --url "http://127.0.0.1:$PORT" --technicians "$FLEET_TECHNICIANS" \
            --jobs "$FLEET_JOBS" --date "$FLEET_DAY" --days "$FLEET_DAYS" --concurrency 32
        note "{\"kind\": \"populate\", \"label\": \"$label\", \"technicians\": $FLEET_TECHNICIANS, \"jobs\": $FLEET_JOBS, \"days\": $FLEET_DAYS, \"seconds\": $((SECONDS - t0))}"
    fi
    # Connections outside, scenarios inside: each figure is measured close in
    # time to the /healthz it is divided by.
    for connections in $CONNECTIONS; do
        for scenario in $READS; do
            load "$label" "$day" "$scenario" "$connections"
        done
    done
    record_rss "$label" reads
    for connections in $PLAN_CONNECTIONS; do
        load "$label" "$day" plan "$connections"
    done
    for connections in $CONNECTIONS; do
        load "$label" "$day" assign-unassign "$connections"
    done
    record_rss "$label" all
    if selected stream-latency; then
        "$BIN/fieldopt-load" stream-latency --url "http://127.0.0.1:$PORT" --label "$label" \
            --subscribers "$STREAM_SUBSCRIBERS" --events "$STREAM_EVENTS" | tee -a "$RESULTS"
    fi
    stop_server
    echo "$label done in $((SECONDS - started)) s" >&2
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for dataset in $DATASETS; do
    for backend in $BACKENDS; do
        case $backend in
            sqlite)
                SQLITE_DIR=$(mktemp -d)
                measure sqlite "sqlite://$SQLITE_DIR/bench.db" "$dataset"
                rm -rf "$SQLITE_DIR"
                SQLITE_DIR=
                ;;
            postgres)
                PG_DB="fieldopt_bench_$$_$dataset"
                psql "$PG_SERVER/$PG_ADMIN_DB" -qc "CREATE DATABASE $PG_DB" >/dev/null
                measure postgres "$PG_SERVER/$PG_DB" "$dataset"
                psql "$PG_SERVER/$PG_ADMIN_DB" -qc "DROP DATABASE $PG_DB WITH (FORCE)" >/dev/null
                PG_DB=
                ;;
            *) echo "unknown backend $backend" >&2; exit 2 ;;
        esac
    done
done

if [ "$SMOKE" = 1 ]; then
    command="bash bench/load/run.sh --smoke"
else
    command="SCENARIOS=\"$SCENARIOS\" CONNECTIONS=\"$CONNECTIONS\" RUNS=$RUNS SECONDS_PER_RUN=$SECONDS_PER_RUN bash bench/load/run.sh"
fi
note "{\"kind\": \"meta\", \"command\": \"${command//\"/\\\"}\", \"bin\": \"$BIN\", \"smoke\": $SMOKE, \"runs\": $RUNS, \"seconds_per_run\": $SECONDS_PER_RUN, \"warmup_ms\": $WARMUP_MS, \"plan_time_limit_ms\": $PLAN_TIME_LIMIT_MS, \"fleet\": [$FLEET_TECHNICIANS, $FLEET_JOBS, $FLEET_DAYS], \"load_before\": \"$LOAD_BEFORE\", \"load_after\": \"$(cut -d' ' -f1-3 /proc/loadavg)\", \"wall_seconds\": $SECONDS}"
python3 bench/load/report.py "$RESULTS" "$OUT"
