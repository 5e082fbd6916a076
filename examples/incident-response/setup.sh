#!/bin/sh
# The ServiceNow side of an incident-response integration (incident.io-style), as nowctl commands.
# Each command names the step of the vendor's guide it performs (docs: scenarios.md, scenario 2).
#
# Where: NOWCTL_INSTANCE + NOWCTL_USER + NOWCTL_PASSWORD (a running nowd, as an admin holding
# security_admin, with snowglobe.rest.allow_elevation true), or NOWCTL_DATA (offline).
# Binary: NOWCTL (default nowctl).  Secrets: SECRETS_OUT (default ./incident-io.secrets, mode 0600):
# client_id=, client_secret=, user=, password=.  Idempotent: a second run changes nothing and keeps
# the secrets already in SECRETS_OUT (a secret missing from it is made anew).
# Options: SERVICE_USER (svc-incident-io), SERVICE_EMAIL, ADMIN_INSTEAD=1 (the "only admin" variant:
# role admin, no task ACLs), SKIP_STEP=3 (leave the task ACLs out: the negative run),
# SERVICE_ROLES (the roles instead of the guide's four, space-separated).
# Step 4, the instance -> product push, only when PRODUCT_WEBHOOK_URL is set (the base URL of the
# product's receiver, e.g. nowsync serve: changes are POSTed to PRODUCT_WEBHOOK_URL/v1/changes):
# a REST message "incident.io push" and an after-update business rule on incident and on task
# calling it.  PRODUCT_WEBHOOK_TOKEN (optional): the receiver's bearer token, kept in the
# property x_incident_io.nowsync.token the rule reads.  A later run with another URL moves both.
set -eu

NOWCTL=${NOWCTL:-nowctl}
SECRETS_OUT=${SECRETS_OUT:-./incident-io.secrets}
SERVICE_USER=${SERVICE_USER:-svc-incident-io}
SERVICE_EMAIL=${SERVICE_EMAIL:-$SERVICE_USER@example.invalid}
ADMIN_INSTEAD=${ADMIN_INSTEAD:-0}
SKIP_STEP=${SKIP_STEP:-}
APP=incident.io
APP_ROLE=x_incident_io.api_user

umask 077
touch "$SECRETS_OUT"
chmod 600 "$SECRETS_OUT"

# exists TABLE QUERY: is there a record?
# (a failed look-up stops the script: it must not be taken for "absent" and make a duplicate)
exists() {
	found=$("$NOWCTL" --json table list "$1" --query "$2" --limit 1) || {
		echo "setup.sh: cannot read $1 (for an ACL: security_admin in effect, see step 3)" >&2
		exit 1
	}
	case $found in
	*'"sys_id"'*) return 0 ;;
	*) return 1 ;;
	esac
}
# secret NAME: its value in SECRETS_OUT, or nothing
secret() {
	sed -n "s/^$1=//p" "$SECRETS_OUT" | tail -n 1
}
# keep NAME VALUE: replace NAME's line in SECRETS_OUT
keep() {
	tmp="$SECRETS_OUT.tmp.$$"
	grep -v "^$1=" "$SECRETS_OUT" >"$tmp" || true
	printf '%s=%s\n' "$1" "$2" >>"$tmp"
	mv "$tmp" "$SECRETS_OUT"
}
# value OUTPUT LABEL: the value after "LABEL: " in a nowctl answer
value() {
	printf '%s\n' "$1" | sed -n "s/^$2[^:]*: //p" | head -n 1
}

# Step 1: Application Registry, new inbound integration, "OAuth - resource owner password
# credential grant", name incident.io, auth scope useraccount.  Client id and secret are kept.
if ! exists oauth_entity "name=$APP"; then
	out=$("$NOWCTL" oauth add "$APP" --grant password --scope useraccount)
	keep client_id "$(value "$out" client_id)"
	keep client_secret "$(value "$out" client_secret)"
elif [ -z "$(secret client_secret)" ]; then
	out=$("$NOWCTL" oauth rotate-secret "$APP")
	keep client_secret "$(value "$out" client_secret)"
fi
if [ -z "$(secret client_id)" ]; then
	out=$("$NOWCTL" --json table list oauth_entity --query "name=$APP" --limit 1)
	keep client_id "$(printf '%s\n' "$out" | sed -n 's/^ *"client_id": "\([^"]*\)".*/\1/p' | head -n 1)"
fi

# Step 2a: the application role x_incident_io.api_user (the guide's app ships it).
if [ "$ADMIN_INSTEAD" != 1 ] && ! exists sys_user_role "name=$APP_ROLE"; then
	"$NOWCTL" role add "$APP_ROLE" --description "incident.io integration API user" >/dev/null
fi

# Step 2b: the service account: username and email; password needs reset off, locked out off,
# active on, identity type Machine; password set by "generate".
if ! exists sys_user "user_name=$SERVICE_USER"; then
	out=$("$NOWCTL" user add "$SERVICE_USER" --email "$SERVICE_EMAIL" --machine --generate-password)
	keep user "$SERVICE_USER"
	keep password "$(value "$out" password)"
else
	"$NOWCTL" user set "$SERVICE_USER" active=true locked_out=false password_needs_reset=false \
		identity_type=machine "email=$SERVICE_EMAIL" >/dev/null
	keep user "$SERVICE_USER"
	if [ -z "$(secret password)" ]; then
		out=$("$NOWCTL" user set-password "$SERVICE_USER" --generate-password)
		keep password "$(value "$out" password)"
	fi
fi

# Step 2c: its roles: x_incident_io.api_user, cmdb_read, sn_cmdb_user, incident_manager --
# or only admin instead (ADMIN_INSTEAD=1).
if [ "$ADMIN_INSTEAD" = 1 ]; then
	roles=admin
else
	roles=${SERVICE_ROLES:-"$APP_ROLE cmdb_read sn_cmdb_user incident_manager"}
fi
for role in $roles; do
	if ! exists sys_user_has_role "user.user_name=$SERVICE_USER^role.name=$role"; then
		"$NOWCTL" role grant "$role" --user "$SERVICE_USER" >/dev/null
	fi
done

# Step 3 (skipped when the account is admin): elevate to security_admin (nowctl asks for it on
# every request; nowd honours it when snowglobe.rest.allow_elevation is true), then three record
# ACLs on task, field none, for read, create and write: active, admin overrides on, role
# x_incident_io.api_user.
if [ "$ADMIN_INSTEAD" != 1 ] && [ "$SKIP_STEP" != 3 ]; then
	for op in read create write; do
		if ! exists sys_security_acl_role \
			"sys_security_acl.name=task^sys_security_acl.operation=$op^sys_security_acl.type=record^sys_security_acl.active=true^sys_user_role.name=$APP_ROLE"; then
			"$NOWCTL" acl add task --operation "$op" --role "$APP_ROLE" >/dev/null
		fi
	done
fi

# Step 4 (optional): ServiceNow's changes pushed to the product as they happen.
# find_id TABLE QUERY: the sys_id of the first match, or nothing
find_id() {
	"$NOWCTL" --json table list "$1" --query "$2" --limit 1 |
		sed -n 's/^    "sys_id": "\([0-9a-f]\{32\}\)".*/\1/p' | head -n 1
}
# ensure TABLE QUERY FIELD=VALUE...: the first match updated to the values, or a new record made;
# prints its sys_id
ensure() {
	table=$1 query=$2
	shift 2
	found=$(find_id "$table" "$query")
	if [ -z "$found" ]; then
		"$NOWCTL" --json table create "$table" "$@" >/dev/null
		found=$(find_id "$table" "$query")
	else
		"$NOWCTL" --json table update "$table" "$found" "$@" >/dev/null
	fi
	[ -n "$found" ] || { echo "setup.sh: could not make $table ($query)" >&2; exit 1; }
	echo "$found"
}
PRODUCT_WEBHOOK_URL=${PRODUCT_WEBHOOK_URL:-}
if [ -n "$PRODUCT_WEBHOOK_URL" ]; then
	PRODUCT_WEBHOOK_URL=${PRODUCT_WEBHOOK_URL%/}
	if [ -n "${PRODUCT_WEBHOOK_TOKEN:-}" ]; then
		"$NOWCTL" property set x_incident_io.nowsync.token "$PRODUCT_WEBHOOK_TOKEN" >/dev/null
	fi
	MSG=$(ensure sys_rest_message "name=incident.io push" "name=incident.io push" \
		"rest_endpoint=$PRODUCT_WEBHOOK_URL")
	FN=$(ensure sys_rest_message_fn "rest_message=$MSG^function_name=post change" "rest_message=$MSG" \
		"function_name=post change" http_method=post "rest_endpoint=$PRODUCT_WEBHOOK_URL/v1/changes")
	ensure sys_rest_message_fn_headers "rest_message_function=$FN^name=Content-Type" \
		"rest_message_function=$FN" name=Content-Type value=application/json >/dev/null
	RULE=$(cat <<'JS'
(function executeRule(current, previous) {
    var m = new sn_ws.RESTMessageV2('incident.io push', 'post change');
    m.setRequestHeader('Authorization', 'Bearer ' + gs.getProperty('x_incident_io.nowsync.token'));
    m.setRequestBody(JSON.stringify({table: current.getTableName(), record: {
        sys_id: current.getValue('sys_id'), sys_mod_count: current.getValue('sys_mod_count'),
        sys_updated_on: current.getValue('sys_updated_on'), sys_updated_by: current.getValue('sys_updated_by'),
        state: current.getValue('state'), number: current.getValue('number')}}));
    m.executeAsync();
})(current, previous);
JS
)
	for table in incident task; do
		ensure sys_script "name=incident.io push ($table)" "name=incident.io push ($table)" \
			"collection=$table" when=after action_update=true active=true order=100 \
			"script=$RULE" >/dev/null
	done
fi
echo "incident.io: set up; service account $SERVICE_USER; secrets in $SECRETS_OUT${PRODUCT_WEBHOOK_URL:+; push to $PRODUCT_WEBHOOK_URL}"
