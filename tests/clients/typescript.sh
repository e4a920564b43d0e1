#!/usr/bin/env bash
# A TypeScript client (openapi-typescript types + openapi-fetch) from the
# document the real server serves, driving it through typescript/flow.ts,
# type-checked with `tsc --noEmit` first and then run with tsx.
#
#   tests/clients/typescript.sh BINARY DATABASE_URL
#
# BINARY is `fieldopt`; DATABASE_URL an empty database (it is migrated and
# seeded). The packages are pinned by typescript/package-lock.json and
# installed with `npm ci` into target/clients-ts, again only when the lock
# changes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
binary=$(realpath "$1")
database_url=$2

project="$root/target/clients-ts"
mkdir -p "$project"
if ! cmp -s "$here/typescript/package-lock.json" "$project/package-lock.json" \
    || [ ! -d "$project/node_modules" ]; then
    cp "$here/typescript/package.json" "$here/typescript/package-lock.json" "$project/"
    (cd "$project" && npm ci --no-audit --no-fund --loglevel=error)
fi
cp "$here/typescript/flow.ts" "$here/typescript/tsconfig.json" "$project/"

. "$root/tests/lib/server.sh"
server_start "$binary" "$database_url" dispatcher

status=0
(
    set -e
    cd "$project"
    curl -fsS "$server_url/api/v1/openapi.json" -o openapi.json
    # Defaults do not make request fields required (see docs/clients.md).
    npx --no-install openapi-typescript openapi.json --default-non-nullable false -o schema.d.ts
    npx --no-install tsc -p tsconfig.json
    FIELDOPT_URL=$server_url FIELDOPT_TOKEN=$server_token npx --no-install tsx flow.ts
) || status=$?
server_stop || status=1
exit $status
