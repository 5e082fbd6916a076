#!/bin/sh
# A throw-away PostgreSQL cluster for tests: no root, no system service, no
# TCP; a Unix socket in DIR.
#
#   scripts/pg-cluster.sh start DIR   initdb DIR (when new), start it, create
#                                     the database "snowglobe", print its URL
#   scripts/pg-cluster.sh stop DIR    stop it (DIR is left for the caller)
#
# PG_CLUSTER_DURABLE=1: fsync and full-page writes on (the server's defaults),
# for benchmarks; otherwise off, for fast tests.
#
# Debian keeps the server programs out of PATH: they are found with
# pg_config --bindir, else /usr/lib/postgresql/*/bin.
set -eu

usage() {
	echo "usage: $0 start DIR | stop DIR" >&2
	exit 2
}
[ $# -eq 2 ] || usage
cmd=$1
dir=$2

bindir=""
if command -v pg_config >/dev/null 2>&1; then
	bindir=$(pg_config --bindir)
fi
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
	for d in /usr/lib/postgresql/*/bin; do
		[ -x "$d/initdb" ] && bindir=$d
	done
fi
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
	echo "pg-cluster: no initdb found (install Debian's postgresql package)" >&2
	exit 1
fi

# The server refuses to run as root: as root (a container), it runs as the
# postgres user Debian's package made, and the URL names that user.
as=""
user=$(id -un)
if [ "$(id -u)" -eq 0 ]; then
	user=postgres
	id "$user" >/dev/null 2>&1 || { echo "pg-cluster: running as root needs a postgres user" >&2; exit 1; }
	as="runuser -u $user --"
fi

case $cmd in
start)
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	[ -z "$as" ] || chown "$user" "$dir"
	if [ ! -f "$dir/data/PG_VERSION" ]; then
		# C locale: text compares bytewise after case folding, as SQLite's
		# NOCASE does.
		$as "$bindir/initdb" -D "$dir/data" -A trust -U "$user" -E UTF8 \
			--locale=C >"$dir/initdb.log" 2>&1 ||
			{ cat "$dir/initdb.log" >&2; exit 1; }
	fi
	# Tests need no durability (fsync off); a benchmark against SQLite's
	# synchronous=FULL does: PG_CLUSTER_DURABLE=1 keeps the server's defaults.
	fast="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
	[ "${PG_CLUSTER_DURABLE:-}" = 1 ] && fast=""
	$as "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
		-o "-k $dir -c listen_addresses='' $fast -c max_connections=200" \
		start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
	if ! "$bindir/psql" -h "$dir" -U "$user" -d postgres -XAtqc \
		"SELECT 1 FROM pg_database WHERE datname = 'snowglobe'" | grep -q 1; then
		"$bindir/createdb" -h "$dir" -U "$user" snowglobe
	fi
	echo "postgresql:///snowglobe?host=$dir&user=$user"
	;;
stop)
	dir=$(cd "$dir" && pwd)
	$as "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
	;;
*)
	usage
	;;
esac
