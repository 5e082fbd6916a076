#!/bin/sh
# The product's side of the RMM integration with nowsync: the connection as the API user that
# setup.sh made, the integration (active: every organization syncs), the profile, and the
# back-sync that polls the API user's incidents for closed states (where the instance's push is
# not set up).  Idempotent.
#
# Inputs: INSTANCE      the instance's URL                                           required
#         SECRETS       the file setup.sh wrote (password=...)                        required
#         PRODUCT_URL   the product's base URL (back-sync posts to .../v2/servicenow/backsync)
#         API_USER      (default ninja.api)   CLOSED_STATES (default 6,7,8)
#         STATE         active or inactive (default active)
#         NOWSYNC       the nowsync binary (default nowsync); NOWSYNC_DATA / NOWSYNC_PROFILES
#                       as nowsync reads them (the profile is copied into the profiles folder)
set -eu
NOWSYNC=${NOWSYNC:-nowsync}
API_USER=${API_USER:-ninja.api}
CLOSED_STATES=${CLOSED_STATES:-6,7,8}
STATE=${STATE:-active}
: "${INSTANCE:?the instance URL}" "${SECRETS:?the secrets file setup.sh wrote}"
HERE=$(cd "$(dirname "$0")" && pwd)

# the profile, where nowsync reads profiles
if [ -n "${NOWSYNC_PROFILES:-}" ]; then
	mkdir -p "$NOWSYNC_PROFILES"
	cp "$HERE/profile.json" "$NOWSYNC_PROFILES/ninja-alerts.json"
fi
# the connection as the API user (the password from the secrets file, never on argv)
if ! "$NOWSYNC" connection show ninja >/dev/null 2>&1; then
	NOWSYNC_PASSWORD=$(sed -n 's/^password=//p' "$SECRETS") \
		"$NOWSYNC" connection add ninja --instance "$INSTANCE" --user "$API_USER" --auth basic
fi
"$NOWSYNC" profile check ninja-alerts --connection ninja
"$NOWSYNC" rmm integration ninja "$STATE" --profile ninja-alerts
# closed states back to the product by polling (push is the instance's business rule)
if [ -n "${PRODUCT_URL:-}" ] && ! "$NOWSYNC" backsync list 2>/dev/null | grep -q '^ninja incident '; then
	"$NOWSYNC" backsync add ninja --table incident --webhook "${PRODUCT_URL%/}/v2/servicenow/backsync" \
		--all-records --filter "sys_created_by=$API_USER" --closed-states "$CLOSED_STATES"
fi
