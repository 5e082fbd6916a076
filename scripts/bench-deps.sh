#!/bin/sh
# Installs what `make bench` needs besides the build: wrk and nginx from
# Debian, json-server from npm (into bench/node_modules).  Idempotent.
set -eu
missing=""
for p in wrk nginx-light nodejs npm; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		# node and npm may come from elsewhere on this machine
		case "$p" in nodejs) command -v node >/dev/null && continue ;; npm) command -v npm >/dev/null && continue ;; esac
		missing="$missing $p"
	fi
done
if [ -n "$missing" ]; then
	SUDO=""
	[ "$(id -u)" -ne 0 ] && SUDO=sudo
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq
	# shellcheck disable=SC2086
	$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
# nginx-light's package starts a service listening on :80; the bench runs its own.
if command -v systemctl >/dev/null 2>&1; then systemctl stop nginx >/dev/null 2>&1 || true; fi
if [ ! -x bench/node_modules/.bin/json-server ]; then
	npm install --prefix bench --no-audit --no-fund --loglevel=error >/dev/null
fi
