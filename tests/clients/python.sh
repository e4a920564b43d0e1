#!/usr/bin/env bash
# A Python client generated with openapi-python-client from the document
# the real server serves, driving it through python/flow.py, which is
# type-checked with `mypy --strict` against the generated code first.
#
#   tests/clients/python.sh BINARY DATABASE_URL
#
# BINARY is `fieldopt`; DATABASE_URL an empty database (it is migrated and
# seeded). The tools are pinned in requirements.txt (target/clients-venv).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
binary=$(realpath "$1")
database_url=$2
venv=$("$here/venv.sh")

. "$root/tests/lib/server.sh"
server_start "$binary" "$database_url" dispatcher
work=$server_workdir

status=0
(
    set -e
    curl -fsS "$server_url/api/v1/openapi.json" -o "$work/openapi.json"
    "$venv/bin/openapi-python-client" generate --path "$work/openapi.json" \
        --meta none --config "$here/python/config.yaml" \
        --output-path "$work/fieldopt_client"
    cp "$here/python/flow.py" "$work/"
    cd "$work"
    "$venv/bin/mypy" --strict --no-incremental flow.py
    FIELDOPT_URL=$server_url FIELDOPT_TOKEN=$server_token "$venv/bin/python" flow.py
) || status=$?
server_stop || status=1
exit $status
