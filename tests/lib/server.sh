# Starting and stopping the real `fieldopt` binary for the script tests
# (schemathesis, generated clients). Source it, then:
#
#   server_start BINARY DATABASE_URL   # migrates + seeds, auth on, serves
#   ... "$server_url", "$server_token" (an admin's bearer token) ...
#   server_stop                         # also on exit, via the trap it sets
#
# The server listens on a free loopback port with authentication on (a
# fresh HS256 secret) and rate limiting loose enough for test traffic. Its
# log is "$server_workdir/server.log"; server_stop fails when it shows a
# panic. Variables in the caller's environment (RUST_LOG, FIELDOPT_*) pass
# through.

# A free TCP port on 127.0.0.1.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

server_start() {
    local binary=$1 database_url=$2 role=${3:-admin}
    server_workdir=$(mktemp -d)
    local port
    port=$(free_port)
    export DATABASE_URL=$database_url
    export FIELDOPT_AUTH_SECRET
    FIELDOPT_AUTH_SECRET=$(python3 -c 'import secrets; print(secrets.token_urlsafe(48))')
    "$binary" seed > /dev/null
    server_token=$("$binary" token --role "$role" --sub "script-test-$role" --ttl 7200)
    FIELDOPT_BIND=127.0.0.1:$port FIELDOPT_RATE_LIMIT_RPS=${FIELDOPT_RATE_LIMIT_RPS:-2000} \
        RUST_LOG=${RUST_LOG:-warn} "$binary" serve > "$server_workdir/server.log" 2>&1 &
    server_pid=$!
    server_url="http://127.0.0.1:$port"
    trap server_stop EXIT
    for _ in $(seq 1 100); do
        if curl -fs "$server_url/readyz" > /dev/null; then
            return 0
        fi
        if ! kill -0 "$server_pid" 2> /dev/null; then
            break
        fi
        sleep 0.1
    done
    echo "the server did not become ready:" >&2
    cat "$server_workdir/server.log" >&2
    return 1
}

# Stops the server (SIGTERM, then waits); fails if it panicked.
server_stop() {
    local status=0
    if [ -n "${server_pid:-}" ]; then
        kill "$server_pid" 2> /dev/null || true
        wait "$server_pid" 2> /dev/null || true
        server_pid=
    fi
    if [ -n "${server_workdir:-}" ]; then
        if grep -q "panicked" "$server_workdir/server.log"; then
            echo "the server panicked:" >&2
            grep -A5 panicked "$server_workdir/server.log" >&2
            status=1
        fi
        rm -rf "$server_workdir"
        server_workdir=
    fi
    return $status
}
