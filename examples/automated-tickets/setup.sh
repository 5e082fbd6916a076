#!/bin/sh
# The ServiceNow side of the automated-tickets integration (Cloud ex
# Machina-style): client credentials, a web-service-only user, a REST API auth
# scope on the Table API, and the assignment group tickets default to.
#
# Where it acts comes from nowctl's own environment: NOWCTL_INSTANCE +
# NOWCTL_USER + NOWCTL_PASSWORD (a running nowd, as an admin) or NOWCTL_DATA.
# NOWCTL names the binary (default nowctl).  SECRETS_OUT names the file
# (created mode 0600) that gets the client id and secret when the OAuth
# application is created; they are shown at creation only, so a second run
# (the application exists) writes nothing there.  Idempotent: each step is
# done only when missing, and the state it leaves is asserted again.
#
# Names may be changed with CXM_USER, CXM_SCOPE, CXM_APP, CXM_GROUP,
# CXM_META_ROLE.
set -eu

NOWCTL=${NOWCTL:-nowctl}
USER_NAME=${CXM_USER:-cxm_integration}
SCOPE=${CXM_SCOPE:-cxm_api_access}
APP=${CXM_APP:-cxm_tickets}
GROUP=${CXM_GROUP:-CXM Cloud Operations}
META_ROLE=${CXM_META_ROLE:-cxm_metadata_reader}

# True when TABLE has a record matching the encoded QUERY.
exists() {
	out=$("$NOWCTL" --json table list "$1" --query "$2" --limit 1)
	[ "$(printf '%s' "$out" | tr -d ' \n')" != "[]" ]
}

# Step 1. System property glide.oauth.inbound.client.credential.grant_type.enabled
# (type "true | false", stored as boolean) created or set to true: without it the client-credentials
# grant is refused.
"$NOWCTL" property set glide.oauth.inbound.client.credential.grant_type.enabled true \
	--type boolean \
	--description "Allow the OAuth client credentials grant for inbound clients" >/dev/null

# Step 2. The OAuth application user: active, web service access only (API
# only, no UI login), roles rest_service and itil.
if ! exists sys_user "user_name=$USER_NAME"; then
	"$NOWCTL" user add "$USER_NAME" --first "Cloud ex Machina" --last Integration \
		--web-service-only >/dev/null
fi
"$NOWCTL" user set "$USER_NAME" active=true web_service_access_only=true locked_out=false >/dev/null
for role in rest_service itil; do
	if ! exists sys_user_has_role "user.user_name=$USER_NAME^role.name=$role"; then
		"$NOWCTL" role grant "$role" --user "$USER_NAME" >/dev/null
	fi
done

# Step 3. REST API auth scope: active, REST API "Table API", path now/table,
# all HTTP methods.
if ! exists sys_auth_scope "name=$SCOPE"; then
	"$NOWCTL" scope add "$SCOPE" --api now/table --methods all >/dev/null
fi

# Step 4. The OAuth application ("OAuth API endpoint for external clients"):
# default grant type client credentials, OAuth application user = the user of
# step 2, active, the auth scope of step 3 attached.  The secret is shown at
# creation only: it goes to SECRETS_OUT.
if ! exists oauth_entity "name=$APP"; then
	: "${SECRETS_OUT:?SECRETS_OUT must name the file for the new client id and secret}"
	umask 077
	: >"$SECRETS_OUT"
	chmod 600 "$SECRETS_OUT"
	"$NOWCTL" oauth add "$APP" --grant client_credentials --user "$USER_NAME" \
		--client-type integration_user >"$SECRETS_OUT"
fi
"$NOWCTL" oauth enable "$APP" >/dev/null
if ! exists oauth_entity_auth_scope "oauth_entity.name=$APP^auth_scope.name=$SCOPE"; then
	"$NOWCTL" scope attach "$SCOPE" --app "$APP" >/dev/null
fi

# Step 5 (product side's default). The assignment group tickets default to.
if ! exists sys_user_group "name=$GROUP"; then
	"$NOWCTL" group add "$GROUP" --description "Tickets of Cloud ex Machina" >/dev/null
fi
# Step 6 (nowsync's own need, not the vendor's guide): nowsync checks every
# record against the instance's dictionary and choices before it sends it, so
# the account reads sys_db_object, sys_dictionary and sys_choice through a
# role of its own.  Editing ACLs needs security_admin in effect (offline, or
# snowglobe.rest.allow_elevation on the instance).
if ! exists sys_user_role "name=$META_ROLE"; then
	"$NOWCTL" role add "$META_ROLE" \
		--description "Reads the table metadata nowsync validates records against" >/dev/null
fi
for acl in sys_db_object sys_db_object.\* sys_dictionary sys_dictionary.\* sys_choice sys_choice.\*; do
	if ! exists sys_security_acl_role \
		"sys_security_acl.name=$acl^sys_security_acl.operation=read^sys_user_role.name=$META_ROLE"; then
		"$NOWCTL" acl add "$acl" --operation read --role "$META_ROLE" >/dev/null
	fi
done
if ! exists sys_user_has_role "user.user_name=$USER_NAME^role.name=$META_ROLE"; then
	"$NOWCTL" role grant "$META_ROLE" --user "$USER_NAME" >/dev/null
fi
echo "automated-tickets: set up ($APP, user $USER_NAME, scope $SCOPE, group $GROUP)"
