#!/usr/bin/env bash
# Checks the example alert rules of docs/OPERATIONS.md with Prometheus' own tools: the yaml block
# after the "alert-rules:" marker must pass `promtool check rules`, and the unit tests of
# RULES_TEST (promtool's rule test format) must pass against it.
#
#   tests/docs/check-alert-rules.sh OPERATIONS.md RULES_TEST.yml
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: $0 OPERATIONS.md RULES_TEST.yml" >&2
  exit 2
fi
command -v promtool >/dev/null || { echo "$0: needs promtool (Debian package prometheus)" >&2; exit 2; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/alert-rules.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# The first ```yaml block after the marker line, without its fences.
awk '/<!-- alert-rules:/ { marked = 1; next }
     marked && /^```yaml/ { inside = 1; next }
     inside && /^```/ { exit }
     inside { print }' "$1" >"$WORK/rules.yml"
if [[ ! -s "$WORK/rules.yml" ]]; then
  echo "$0: no yaml block after the alert-rules marker in $1" >&2
  exit 1
fi
promtool check rules "$WORK/rules.yml"
# The test file names its rule file as rules.yml, next to it.
cp "$2" "$WORK/rules-test.yml"
(cd "$WORK" && promtool test rules rules-test.yml)
