#!/bin/sh
# Starts nowd for `make run`: creates the instance (with demo data) on first
# use, then serves it in the foreground.  Ctrl-C stops it cleanly.
#   run.sh BINDIR DATADIR LISTEN PORT
set -eu
bin=$1 data=$2 listen=$3 port=$4
url="http://$listen:$port/api/now/table/incident?sysparm_limit=1"

if [ ! -f "$data/instance.db" ]; then
	mkdir -p "$(dirname "$data")"
	echo "Creating a new instance with demo data in $data"
	out=$("$bin/nowctl" init --data "$data" --demo)
	echo "$out"
	# nowctl init prints a generated password once; it is not stored anywhere.
	password=$(echo "$out" | sed -n 's/^admin password (shown once): //p')
	if [ -n "$password" ]; then
		echo "Try: curl -u 'admin:$password' '$url'"
	else
		echo "admin password: taken from NOWD_ADMIN_PASSWORD"
		echo "Try: curl -u \"admin:\$NOWD_ADMIN_PASSWORD\" '$url'"
	fi
else
	echo "Serving the instance in $data (admin's password: the one printed when it was created;"
	echo "  lost it? nowctl --data $data user set-password admin --generate-password)"
	echo "Try: curl -u admin:PASSWORD '$url'"
fi
exec "$bin/nowd" --data "$data" --listen "$listen" --port "$port"
