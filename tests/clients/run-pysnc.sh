#!/bin/sh
# Runs PySNC's own test suite (ServiceNow/PySNC, a checkout given by path) against a
# fresh nowd with demo data, and prints pytest's summary.  Nothing of PySNC is kept in
# this repository: clone it anywhere outside and point this script at it.
#
#   tests/clients/run-pysnc.sh PYSNC_CHECKOUT [PYTEST_ARGS...]
#
# NOWD_BIN names the directory holding nowd and nowctl (default build/release/bin);
# PYTHON the interpreter (default /usr/bin/python3, where the Debian packages are).
# PySNC reads PYSNC_SERVER, PYSNC_USERNAME and PYSNC_PASSWORD from the environment
# (test/constants.py); they are set here.  Its Python dependencies come from Debian:
# python3-requests python3-requests-oauthlib python3-dotenv python3-pytest
# (python3-httpx for its asyncio tests).  Exits with pytest's status.
set -eu

if [ $# -lt 1 ] || [ ! -f "$1/pysnc/client.py" ]; then
	echo "usage: $0 PYSNC_CHECKOUT [PYTEST_ARGS...]" >&2
	exit 2
fi
pysnc=$(cd "$1" && pwd)
shift
here=$(cd "$(dirname "$0")/../.." && pwd)
py=${PYTHON:-/usr/bin/python3}
bin=${NOWD_BIN:-$here/build/release/bin}
if [ ! -x "$bin/nowd" ] || [ ! -x "$bin/nowctl" ]; then
	echo "run-pysnc: no nowd/nowctl in $bin (make, or set NOWD_BIN)" >&2
	exit 2
fi

dir=$(mktemp -d /tmp/sg-pysnc-XXXXXX)
pid=""
# shellcheck disable=SC2317 # called by the trap
cleanup() {
	if [ -n "$pid" ]; then
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	[ -n "${KEEP:-}" ] || rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

password=Snowglobe-pysnc-1
NOWD_ADMIN_PASSWORD=$password "$bin/nowctl" init --data "$dir/data" --demo >/dev/null
# PySNC refuses http:// instances, so nowd serves TLS with a throw-away certificate
# that requests (REQUESTS_CA_BUNDLE) and httpx (SSL_CERT_FILE) are told to trust.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$dir/key.pem" -out "$dir/cert.pem" -days 1 \
	-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1
port=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin/nowd" --data "$dir/data" --port "$port" --tls-cert "$dir/cert.pem" --tls-key "$dir/key.pem" >"$dir/nowd.log" 2>&1 &
pid=$!
i=0
until "$py" -c "import socket,sys; socket.create_connection(('127.0.0.1',$port),0.2)" 2>/dev/null; do
	i=$((i + 1))
	if [ $i -gt 200 ] || ! kill -0 "$pid" 2>/dev/null; then
		echo "run-pysnc: nowd did not start:" >&2
		cat "$dir/nowd.log" >&2
		exit 1
	fi
	sleep 0.1
done

# PySNC reads its own version from the installed package's metadata; a checkout has
# none, so a dist-info naming the checkout's version stands in for `pip install -e`.
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$pysnc/pyproject.toml" | head -1)
mkdir -p "$dir/site/pysnc-${version:-0}.dist-info"
printf 'Metadata-Version: 2.1\nName: pysnc\nVersion: %s\n' "${version:-0}" \
	>"$dir/site/pysnc-${version:-0}.dist-info/METADATA"

echo "run-pysnc: nowd at https://127.0.0.1:$port (log $dir/nowd.log${KEEP:+, kept})"
# PySNC's asyncio client passes httpx's `proxy=` argument (httpx 0.26 and later); Debian
# 12 ships httpx 0.23, where every asyncio test would fail before sending a request.
# Those tests are left out, and said so, rather than counted as nowd's failures.
ignore=""
if ! "$py" -c 'import httpx, sys; sys.exit(tuple(map(int, httpx.__version__.split(".")[:2])) < (0, 26))' 2>/dev/null; then
	echo "run-pysnc: httpx missing or older than 0.26: PySNC's test/asyncio is not run"
	ignore="--ignore=$pysnc/test/asyncio"
fi
status=0
# From a directory of our own so PySNC's .env / .password files (if any) are not read;
# the checkout is on PYTHONPATH and its tests are named by path.
(
	cd "$dir"
	PYSNC_SERVER="https://127.0.0.1:$port" PYSNC_USERNAME=admin PYSNC_PASSWORD=$password \
		REQUESTS_CA_BUNDLE="$dir/cert.pem" SSL_CERT_FILE="$dir/cert.pem" \
		PYSNC_CLIENT_ID=unused PYSNC_CLIENT_SECRET=unused PYTHONPATH="$pysnc:$dir/site" \
		"$py" -m pytest -p no:cacheprovider -q -rfEs --rootdir "$pysnc" ${ignore:+"$ignore"} "$pysnc/test" "$@"
) || status=$?
# nowd must stop cleanly on SIGTERM, as in the black-box suites.
kill -TERM "$pid"
code=0
wait "$pid" || code=$?
pid=""
if [ "$code" -ne 0 ]; then
	echo "run-pysnc: nowd exited $code on SIGTERM (log $dir/nowd.log)" >&2
	KEEP=1
	status=1
fi
if grep -E "Sanitizer|runtime error" "$dir/nowd.log" >/dev/null; then
	echo "run-pysnc: nowd reported a sanitizer error (log $dir/nowd.log)" >&2
	KEEP=1
	status=1
fi
exit $status
