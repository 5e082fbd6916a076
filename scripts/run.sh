#!/bin/sh
# Starts nowd for `make run`: creates the instance (with demo data) on first
# use, then serves it in the foreground.  Ctrl-C stops it cleanly.
#   run.sh BINDIR DATADIR LISTEN PORT [DB]
# DB (make run DB=postgresql://...) serves a PostgreSQL database instead of
# DATADIR: a database that does not exist yet is created with the demo data
# (the instance key in ~/.config/snowglobe/keys/, or SNOWGLOBE_KEY when set).
set -eu
bin=$1 data=$2 listen=$3 port=$4 db=${5:-}
url="http://$listen:$port/api/now/table/incident?sysparm_limit=1"

if [ -n "$db" ]; then
	# The URL may hold a password: never echoed.
	shown=$(printf '%s' "$db" | sed 's#^\([a-z]*://[^:/@]*\):[^@]*@#\1:***@#')
	if out=$("$bin/nowctl" init --db "$db" --demo 2>/tmp/sg-run-init.$$); then
		rm -f /tmp/sg-run-init.$$
		echo "Created a new instance with demo data in $shown"
		password=$(echo "$out" | sed -n 's/^admin password (shown once): //p')
		[ -z "$password" ] || echo "admin password (shown once): $password"
	elif grep -q "already holds an instance" /tmp/sg-run-init.$$; then
		rm -f /tmp/sg-run-init.$$
		echo "Serving the instance in $shown"
	else
		rm -f /tmp/sg-run-init.$$
		echo "nowctl init failed on $shown (run it by hand to see why)" >&2
		exit 1
	fi
	echo "Try: curl -u admin:PASSWORD '$url'"
	exec "$bin/nowd" --db "$db" --listen "$listen" --port "$port"
fi

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
