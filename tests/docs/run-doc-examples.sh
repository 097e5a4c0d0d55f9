#!/usr/bin/env bash
# Runs the shell examples of the documentation against a real broker, so that the docs and the
# binary cannot drift apart.
#
#   tests/docs/run-doc-examples.sh BROKER_BINARY DOC.md...
#
# Every fenced ```sh block of each document runs, in document order, in one bash session per
# document (so a block can use the variables and files of the blocks before it), with
# `set -euo pipefail` and BROKER set to the URL of a broker started for that document: the
# binary, a temporary SQLite database, the development upstream and policies/dev.yaml, on a free
# loopback port. A block that cannot run here says so on its first line:
#     # docs-test: not run (the reason)
# and is reported as not run. A document with no block that runs fails: that is a runner or a
# marker gone wrong, not a passing document.
#
# The examples check their own results (`jq -e`, `grep -q`, `test`): a block that fails, or
# prints an error from curl, fails this test and names the block's line.
set -euo pipefail

if [[ $# -lt 2 ]]; then
  echo "usage: $0 BROKER_BINARY DOC.md..." >&2
  exit 2
fi
BINARY=$(realpath "$1")
shift
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
for tool in curl jq openssl python3; do
  command -v "$tool" >/dev/null || { echo "$0: needs $tool" >&2; exit 2; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/doc-examples.XXXXXX")
BROKER_PID=""
cleanup() {
  if [[ -n "$BROKER_PID" ]]; then
    kill "$BROKER_PID" 2>/dev/null || true
    wait "$BROKER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Starts a fresh broker in $1 (a directory) and sets BROKER_URL and BROKER_PID.
start_broker() {
  local dir=$1 port
  port=$(free_port)
  cat >"$dir/broker.yaml" <<EOF
issuer: http://127.0.0.1:$port
listen: 127.0.0.1:$port
storage: sqlite:$dir/broker.db
policy: $ROOT/policies/dev.yaml
dev_mode: true
log_level: info
secrets:
  master_keys:
    - dev-only-docs-test-master-key-0123456789abcdef
upstreams:
  dev:
    type: dev
    display_name: Development sign-in (any name)
EOF
  "$BINARY" --config "$dir/broker.yaml" serve >"$dir/broker.log" 2>&1 &
  BROKER_PID=$!
  BROKER_URL="http://127.0.0.1:$port"
  for _ in $(seq 1 100); do
    if curl -fs -o /dev/null "$BROKER_URL/health"; then return 0; fi
    if ! kill -0 "$BROKER_PID" 2>/dev/null; then break; fi
    sleep 0.1
  done
  echo "the broker did not start:" >&2
  cat "$dir/broker.log" >&2
  exit 1
}

stop_broker() {
  kill "$BROKER_PID" 2>/dev/null || true
  wait "$BROKER_PID" 2>/dev/null || true
  BROKER_PID=""
}

# Writes the runnable blocks of $1 as one script to $2, and the skipped ones to stdout, naming
# the document $3. Prints "<runnable count>" last.
extract() {
  awk -v doc="$3" -v out="$2" '
    BEGIN { runnable = 0 }
    !inside && /^```sh[[:space:]]*$/ { inside = 1; first = 1; start = NR; skip = 0; next }
    inside && /^```[[:space:]]*$/ {
      inside = 0
      if (!skip) print "__doc_block_end" >> out
      next
    }
    inside {
      if (first) {
        first = 0
        if ($0 ~ /^# docs-test: not run/) {
          skip = 1
          reason = $0
          sub(/^# docs-test: not run */, "", reason)
          printf "  not run: %s:%d %s\n", doc, start, reason
          next
        }
        runnable++
        printf "__doc_block_start %s:%d\n", doc, start >> out
      }
      if (!skip) print >> out
    }
    END {
      if (inside) { printf "%s:%d: unterminated ```sh block\n", doc, start > "/dev/stderr"; exit 1 }
      print runnable
    }' "$1"
}

status=0
for doc in "$@"; do
  name=$(realpath --relative-to="$ROOT" "$doc")
  dir="$WORK/$(basename "$doc" .md)"
  mkdir -p "$dir/cwd"
  echo "== $name"
  body="$dir/examples.sh"
  : >"$body"
  report=$(extract "$doc" "$body" "$name")
  runnable=$(tail -n 1 <<<"$report")
  sed '$d' <<<"$report"
  if [[ "$runnable" -eq 0 ]]; then
    echo "$name: no example runs (every sh block is marked 'docs-test: not run')" >&2
    status=1
    continue
  fi
  start_broker "$dir"
  script="$dir/run.sh"
  {
    echo 'set -euo pipefail'
    echo '__doc_block=""'
    echo '__doc_block_start() { __doc_block=$1; echo "-- $1"; }'
    echo '__doc_block_end() { :; }'
    echo 'trap '\''echo "FAILED: the example at $__doc_block (line $LINENO of the joined script)" >&2'\'' ERR'
    cat "$body"
  } >"$script"
  if (cd "$dir/cwd" && BROKER="$BROKER_URL" bash "$script"); then
    echo "$name: $runnable example(s) passed"
  else
    echo "$name: an example failed; broker log:" >&2
    tail -n 30 "$dir/broker.log" >&2
    status=1
  fi
  stop_broker
done
exit $status
