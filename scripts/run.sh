#!/bin/sh
# Starts nowd for `make run`: creates the instance (with demo data) on first
# use, then serves it in the foreground.  Ctrl-C stops it cleanly.
#   run.sh BINDIR DATADIR LISTEN PORT
set -eu
bin=$1 data=$2 listen=$3 port=$4

if [ ! -f "$data/instance.db" ]; then
	mkdir -p "$(dirname "$data")"
	echo "Creating a new instance with demo data in $data"
	"$bin/nowctl" init --data "$data" --demo
	if [ -n "${NOWD_ADMIN_PASSWORD:-}" ]; then
		echo "admin password: taken from NOWD_ADMIN_PASSWORD"
	fi
fi
echo "Try: curl -u admin:PASSWORD 'http://$listen:$port/api/now/table/incident?sysparm_limit=1'"
exec "$bin/nowd" --data "$data" --listen "$listen" --port "$port"
