#!/bin/sh
# The product side of the automated-tickets integration: the nowsync
# connection (client credentials), its profiles, and the connection test.
#   connect.sh INSTANCE_URL SECRETS_FILE   (SECRETS_FILE: setup.sh's SECRETS_OUT)
# NOWSYNC names the binary (default nowsync); nowsync's own environment says
# where its state is (NOWSYNC_DATA, or its default).
set -eu
NOWSYNC=${NOWSYNC:-nowsync}
INSTANCE=$1
SECRETS=$2
HERE=$(cd "$(dirname "$0")" && pwd)
client_id=$(sed -n 's/^client_id: //p' "$SECRETS")
# the secret goes on stdin, never on a command line
sed -n 's/^client_secret (shown once): /client_secret=/p' "$SECRETS" |
	"$NOWSYNC" connection add cxm --instance "$INSTANCE" --auth client_credentials \
		--client-id "$client_id" --secrets-stdin
dir=$("$NOWSYNC" profile list --json >/dev/null 2>&1 && echo "${NOWSYNC_PROFILES:-}")
if [ -n "$dir" ]; then
	cp "$HERE"/profiles/*.json "$dir"/
else
	echo "connect.sh: copy $HERE/profiles/*.json into nowsync's profiles folder" >&2
fi
"$NOWSYNC" connection test cxm --profile cxm-incident --profile cxm-change
