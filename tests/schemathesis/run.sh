#!/usr/bin/env bash
# Schemathesis against the real server: every operation of the served
# document, every check, positive and negative data, a fixed seed.
#
#   tests/schemathesis/run.sh BINARY DATABASE_URL [MAX_EXAMPLES]
#
# Starts BINARY (`fieldopt`) on DATABASE_URL (an empty database: it is
# migrated and seeded) with authentication on, runs schemathesis with an
# admin token, stops the server. Schemathesis is installed into
# target/schemathesis-venv on first use. CI runs a few examples per
# operation; run with 200 or more for a thorough pass.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
binary=$1
database_url=$2
examples=${3:-20}
version=4.32.5

venv="$root/target/schemathesis-venv"
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$version"; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "schemathesis==$version"
fi

workdir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export DATABASE_URL=$database_url
export FIELDOPT_AUTH_SECRET
FIELDOPT_AUTH_SECRET=$(python3 -c 'import secrets; print(secrets.token_urlsafe(48))')
"$binary" seed > /dev/null
token=$("$binary" token --role admin --sub schemathesis --ttl 7200)

FIELDOPT_BIND=127.0.0.1:$port FIELDOPT_RATE_LIMIT_RPS=2000 RUST_LOG=warn \
    "$binary" serve > "$workdir/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$workdir"' EXIT
for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$port/readyz" > /dev/null && break
    sleep 0.1
done

cd "$here"
status=0
SCHEMATHESIS_HOOKS=hooks "$venv/bin/schemathesis" run \
    "http://127.0.0.1:$port/api/v1/openapi.json" \
    --checks all \
    --mode all \
    --seed 1 \
    --max-examples "$examples" \
    --workers 1 \
    --no-color \
    --header "Authorization: Bearer $token" || status=$?
if grep -q "panicked" "$workdir/server.log"; then
    echo "the server panicked:" >&2
    grep -A5 panicked "$workdir/server.log" >&2
    exit 1
fi
exit $status
