#!/bin/sh
# A connector's CI run against nowd, start to finish: an ephemeral instance,
# the set-up, a snapshot, a frozen clock, an injected fault the connector
# must survive, assertions in ServiceNow's terms, and a reset.
#
# Needs nowd and nowctl on PATH (or NOWD / NOWCTL naming them) and curl.
# PORT (default 8099) is where the instance listens; DIR (default a temp
# directory) holds it.  Exit 0 when every assertion holds.
set -eu

NOWD=${NOWD:-nowd}
NOWCTL=${NOWCTL:-nowctl}
PORT=${PORT:-8099}
DIR=${DIR:-$(mktemp -d)}
URL=http://127.0.0.1:$PORT
export NOWD_ADMIN_PASSWORD=${NOWD_ADMIN_PASSWORD:-Ci-admin-pass-1}

# 1. An instance with the demo data, served from a temporary copy: nothing
#    the run writes is kept (nowd --ephemeral).
[ -f "$DIR/instance.db" ] || "$NOWCTL" init --data "$DIR" --demo >/dev/null
"$NOWD" --data "$DIR" --port "$PORT" --ephemeral >"$DIR/nowd.log" 2>&1 &
NOWD_PID=$!
trap 'kill "$NOWD_PID" 2>/dev/null; wait "$NOWD_PID" 2>/dev/null || true' EXIT
i=0
until curl -s -o /dev/null "$URL/api/now/table/incident?sysparm_limit=1"; do
	i=$((i + 1))
	[ "$i" -lt 100 ] || { echo "nowd did not start" >&2; exit 1; }
	sleep 0.1
done

# From here nowctl acts on the running instance as the admin.
export NOWCTL_INSTANCE=$URL NOWCTL_USER=admin NOWCTL_PASSWORD=$NOWD_ADMIN_PASSWORD

# 2. The set-up the connector's guide asks for: an integration user with itil.
"$NOWCTL" user add ci.connector --first CI --last Connector --password Ci-connector-1 \
	--role itil >/dev/null

# 3. Keep this state, and freeze the clock so every stamp is known.
"$NOWCTL" snapshot save after-setup >/dev/null
"$NOWCTL" clock freeze "2030-01-01 09:00:00" >/dev/null
"$NOWCTL" requests clear >/dev/null

# 4. The instance fails the connector's first create with a 503, once.
"$NOWCTL" fault add error_503 --method POST --table incident --count 1 >/dev/null

# 5. The connector under test (here: curl with its retry on 503) files one incident.
curl -s -f --retry 3 --retry-delay 1 -u ci.connector:Ci-connector-1 \
	-H 'Content-Type: application/json' -H 'Accept: application/json' \
	-d '{"short_description":"Disk full on db1","correlation_id":"ci-demo-1","urgency":"2"}' \
	"$URL/api/now/table/incident" >/dev/null

# 6. Assertions, in ServiceNow's terms: exactly one incident (no duplicate
#    from the retry), created by the connector at the frozen instant; and the
#    journal saw one refused and one accepted create.
"$NOWCTL" expect incident --query 'correlation_id=ci-demo-1' --count 1 \
	--field sys_created_by=ci.connector --field 'sys_created_on=2030-01-01 09:00:00'
[ "$("$NOWCTL" requests --method POST --path /api/now/table/incident --status 503 --count)" = 1 ]
[ "$("$NOWCTL" requests --method POST --path /api/now/table/incident --status 201 --count)" = 1 ]

# 7. Back to the state after the set-up for the next test: the incident is gone.
"$NOWCTL" fault clear >/dev/null
"$NOWCTL" snapshot reset after-setup >/dev/null
"$NOWCTL" expect incident --query 'correlation_id=ci-demo-1' --count 0
"$NOWCTL" clock real >/dev/null
echo "ci example: all assertions held"
