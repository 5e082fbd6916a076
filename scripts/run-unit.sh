#!/bin/sh
# Runs every cmocka unit-test binary given; fails when any fails.
# Prints one summary line that CI can read: "unit: N passed, M failed".
set -u
pass=0 fail=0
for t in "$@"; do
	if "$t"; then
		pass=$((pass + 1))
	else
		echo "FAILED: $t"
		fail=$((fail + 1))
	fi
done
echo "unit: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
