#!/bin/sh
# The product side of the incident-response integration: nowsync connects with the base URL, the
# OAuth client id and secret and the service account's user and password (password grant), takes
# the two profiles, hands out intake tokens to the product, and sends ServiceNow's changes back
# to the product's webhook (push through `nowsync serve`'s /v1/changes, and poll).
#
# Reads: INSTANCE (base URL), SECRETS (the file setup.sh wrote), WEBHOOK (the product's URL for
# ServiceNow's changes), NOWSYNC (default nowsync) and nowsync's own NOWSYNC_DATA.  Prints the
# intake tokens once (they are not kept in clear anywhere).
set -eu

NOWSYNC=${NOWSYNC:-nowsync}
SECRETS=${SECRETS:-./incident-io.secrets}
HERE=$(dirname "$0")
: "${INSTANCE:?the instance base URL}" "${WEBHOOK:?the product webhook URL}"

get() {
	sed -n "s/^$1=//p" "$SECRETS" | tail -n 1
}

# the profiles (incidents, follow-ups) into nowsync's profiles folder
dir=${NOWSYNC_PROFILES:-${NOWSYNC_DATA:-${XDG_DATA_HOME:-$HOME/.local/share}/nowsync}/profiles}
mkdir -p "$dir"
cp "$HERE/incidents.json" "$HERE/followups.json" "$dir/"

# connect: base URL, client id and secret, user and password (secrets on stdin, never argv)
if ! "$NOWSYNC" connection show incident-io >/dev/null 2>&1; then
	printf 'client_secret=%s\npassword=%s\n' "$(get client_secret)" "$(get password)" |
		"$NOWSYNC" connection add incident-io --instance "$INSTANCE" \
			--client-id "$(get client_id)" --user "$(get user)" --secrets-stdin || [ $? = 19 ]
fi

# ServiceNow -> product: incidents and follow-ups, polled (and pushed to serve's /v1/changes)
for table in incident task; do
	"$NOWSYNC" backsync add incident-io --table "$table" --webhook "$WEBHOOK" 2>/dev/null ||
		echo "back-sync of $table: already set up"
done

# product -> ServiceNow: one intake token per profile, and one for the instance's pushes
for t in incidents followups; do
	if ! "$NOWSYNC" token list | grep -q "^product-$t\b"; then
		"$NOWSYNC" token create "product-$t" --connection incident-io --profile "$t"
	fi
done
if ! "$NOWSYNC" token list | grep -q '^instance-push\b'; then
	"$NOWSYNC" token create instance-push --connection incident-io
fi
echo "now run: $NOWSYNC serve"
