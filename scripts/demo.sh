#!/usr/bin/env bash
# The quickstart story, printed command by command so that a reader can repeat it by hand.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
gyre="$root/.venv/bin/gyre"
work="$root/.demo"
rm -rf "$work" && mkdir -p "$work" && cd "$work"
cp -r "$root/examples/quickstart" .
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }
gyre() { "$gyre" "$@"; }
step gyre init
step gyre run quickstart/pipeline.py:quickstart --tag build=1
echo; echo "Nothing changed, so every step is reused:"
step gyre run quickstart/pipeline.py:quickstart --tag build=2
echo; echo "Change a training parameter: data preparation is reused, training re-runs."
step gyre plan quickstart/pipeline.py:quickstart --param epochs=40
step gyre run quickstart/pipeline.py:quickstart --param epochs=40 --tag build=3
step gyre runs list
step gyre runs list --filter "params.epochs = 40"
run=$("$gyre" runs list --json --limit 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
step gyre metrics "$run"
step gyre runs show "$run"
