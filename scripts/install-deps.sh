#!/bin/sh
# Installs the Debian 12 packages Snowglobe needs to build, run and test.
# Idempotent and non-interactive: packages already present are left alone,
# and apt is only touched when something is missing.
set -eu

PKGS="build-essential gcc clang clang-format libclang-rt-14-dev make pkg-config
libmicrohttpd-dev libjansson-dev libsqlite3-dev sqlite3 libpq-dev postgresql
libsodium-dev libcurl4-openssl-dev libgnutls28-dev libcmocka-dev
python3 python3-pytest python3-requests openssl curl tzdata duktape-dev
prometheus-alertmanager chromium chromium-driver python3-selenium"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done

[ -z "$missing" ] && exit 0

echo "install-deps: installing:$missing"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
