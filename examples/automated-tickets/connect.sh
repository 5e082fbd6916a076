#!/bin/sh
# The product side of the automated-tickets integration: the profiles, the
# nowsync connection (client credentials; tested before it is saved), and the
# connection test with both profiles.
#   connect.sh INSTANCE_URL SECRETS_FILE   (SECRETS_FILE: setup.sh's SECRETS_OUT)
# NOWSYNC names the binary (default nowsync).  nowsync's state is where its
# environment says (NOWSYNC_DATA, NOWSYNC_DB); the profiles go to
# NOWSYNC_PROFILES, else NOWSYNC_DATA/profiles.
set -eu
NOWSYNC=${NOWSYNC:-nowsync}
INSTANCE=$1
SECRETS=$2
HERE=$(cd "$(dirname "$0")" && pwd)
PROFILES=${NOWSYNC_PROFILES:-${NOWSYNC_DATA:+$NOWSYNC_DATA/profiles}}
if [ -z "$PROFILES" ]; then
	echo "connect.sh: set NOWSYNC_DATA or NOWSYNC_PROFILES (where the profiles go)" >&2
	exit 2
fi
mkdir -p "$PROFILES"
cp "$HERE"/profiles/cxm-incident.json "$HERE"/profiles/cxm-change.json "$PROFILES"/
client_id=$(sed -n 's/^client_id: //p' "$SECRETS")
# the secret goes on stdin, never on a command line
sed -n 's/^client_secret (shown once): /client_secret=/p' "$SECRETS" |
	"$NOWSYNC" connection add cxm --instance "$INSTANCE" --auth client_credentials \
		--client-id "$client_id" --secrets-stdin
"$NOWSYNC" connection test cxm --profile cxm-incident --profile cxm-change
