#!/bin/sh
# Runs the given unit-test binaries against a throw-away PostgreSQL cluster
# (scripts/pg-cluster.sh) with SG_STORE_URL naming it, then stops the cluster
# and removes it, whatever the tests did.  Prints "unit-pg: N passed, M
# failed" and the wall time.
set -u
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d /tmp/sg-pg-XXXXXX)
start=$(date +%s)
cleanup() {
	sh "$here/pg-cluster.sh" stop "$dir" >/dev/null 2>&1 || true
	rm -rf "$dir"
}
trap cleanup EXIT INT TERM
url=$(sh "$here/pg-cluster.sh" start "$dir") || { echo "unit-pg: no cluster" >&2; exit 1; }
export SG_STORE_URL="$url"
pass=0 fail=0
for t in "$@"; do
	if "$t"; then
		pass=$((pass + 1))
	else
		echo "FAILED: $t (PostgreSQL)"
		fail=$((fail + 1))
	fi
done
echo "unit-pg: $pass passed, $fail failed in $(($(date +%s) - start)) s"
[ "$fail" -eq 0 ]
