#!/bin/sh
# Scenario 3, the product side: one nowsync connection per ServiceNow instance (as many as the
# account has), each with the secrets setup.sh wrote to SECRETS_OUT, and the profile.
#
#   SECRETS_OUT=secrets.env INSTANCE=https://acme.service-now.com CONNECTION=acme ./connect.sh
#
# NOWSYNC names the binary (default nowsync); nowsync's own environment says where its state is
# (NOWSYNC_DATA).  The secrets go to nowsync through its environment, never its command line.
set -eu
NOWSYNC=${NOWSYNC:-nowsync}
: "${SECRETS_OUT:?the secrets file setup.sh wrote}"
: "${INSTANCE:?the instance URL}"
CONNECTION=${CONNECTION:-finout}
PROFILES=${NOWSYNC_PROFILES:-}

secret() { sed -n "s/^$1=//p" "$SECRETS_OUT" | tail -n 1; }

# the product's "Connect to ServiceNow" form: instance URL, client id, client secret, username,
# password (the password grant)
NOWSYNC_CLIENT_SECRET=$(secret client_secret) NOWSYNC_PASSWORD=$(secret password) \
	"$NOWSYNC" connection add "$CONNECTION" --instance "$INSTANCE" --auth password \
	--client-id "$(secret client_id)" --user "$(secret username)" ||
	"$NOWSYNC" connection show "$CONNECTION" >/dev/null # saved, with warnings the test printed

# the profile events are mapped with (copied beside the state unless NOWSYNC_PROFILES is set)
if [ -z "$PROFILES" ]; then
	PROFILES=${NOWSYNC_DATA:?set NOWSYNC_DATA or NOWSYNC_PROFILES}/profiles
	mkdir -p "$PROFILES"
	cp "$(dirname "$0")/profile.json" "$PROFILES/cost-anomalies.json"
fi

# "additional fields": what an incident on this instance can carry (exit 6 names missing ACLs)
"$NOWSYNC" fields "$CONNECTION" --table incident
