#!/usr/bin/env bash
# Validates the committed OpenAPI documents with openapi-spec-validator:
# openapi/fieldopt.json as 3.1, openapi/fieldopt-3.0.json as 3.0.
#
#   tests/clients/validate.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
venv=$("$root/tests/clients/venv.sh")
for file in fieldopt.json fieldopt-3.0.json; do
    "$venv/bin/openapi-spec-validator" "$root/openapi/$file"
done
