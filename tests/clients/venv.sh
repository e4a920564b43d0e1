#!/usr/bin/env bash
# Prints the path of a Python venv holding tests/clients/requirements.txt,
# creating it under target/clients-venv on first use and again only when
# the requirements change (a copy of them is kept inside the venv).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
requirements="$root/tests/clients/requirements.txt"
venv="$root/target/clients-venv"
if ! cmp -s "$requirements" "$venv/requirements.txt" 2> /dev/null; then
    rm -rf "$venv"
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements" >&2
    cp "$requirements" "$venv/requirements.txt"
fi
echo "$venv"
