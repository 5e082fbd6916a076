#!/bin/sh
# The ServiceNow side of an RMM integration (NinjaOne-style), as the vendor's guide has an admin
# do it, with nowctl only.  Idempotent: a second run finds what the first made and changes
# nothing (it fails only when a step's command fails).
#
# Where it acts: nowctl's own environment: NOWCTL_DATA (or NOWCTL_DB) for an instance's data
# directory (ACLs are written there, as security_admin would), or NOWCTL_INSTANCE + NOWCTL_USER
# + NOWCTL_PASSWORD for a running nowd as admin (ACL steps then need
# snowglobe.rest.allow_elevation=true on it).  NOWCTL: the nowctl binary (default nowctl).
#
# Inputs:  PRODUCT_URL     the product's base URL (the REST message's endpoint)         required
#          CLIENT_ID       the product's API client id (step 3)                          required
#          CLIENT_SECRET_FILE  a file holding the client's secret (step 3; never on argv) required
#          API_USER        the dedicated API user (default ninja.api)
#          CLOSED_STATES   incident states that count as closed (default 6,7,8)
#          SECRETS_OUT     where the API user's generated password is written (mode 0600;
#                          only when the user is made by this run)                       required
#          SKIP_STEP       a step to leave out (2b: the API user's roles and ACLs), to see what
#                          the product's connection test says without it
set -eu
NOWCTL=${NOWCTL:-nowctl}
API_USER=${API_USER:-ninja.api}
CLOSED_STATES=${CLOSED_STATES:-6,7,8}
SKIP_STEP=${SKIP_STEP:-}
ROLE=x_ninjarmm.integration
: "${PRODUCT_URL:?the base URL of the product}" "${CLIENT_ID:?the API client id of the product}"
: "${CLIENT_SECRET_FILE:?a file holding the client secret of the product}" "${SECRETS_OUT:?a file for the password of the API user}"
PRODUCT_URL=${PRODUCT_URL%/}

# The sys_id of the first record of table matching query, or nothing.
find_id() {
	"$NOWCTL" --json table list "$1" --query "$2" --limit 1 |
		sed -n 's/^    "sys_id": "\([0-9a-f]\{32\}\)".*/\1/p' | head -n 1
}
# Creates a record unless one matches query; prints its sys_id.
ensure() {
	table=$1 query=$2
	shift 2
	id=$(find_id "$table" "$query")
	if [ -z "$id" ]; then
		"$NOWCTL" --json table create "$table" "$@" >/dev/null
		id=$(find_id "$table" "$query")
	fi
	[ -n "$id" ] || { echo "setup.sh: could not make $table ($query)" >&2; exit 1; }
	echo "$id"
}
step() { echo "== $*" >&2; }

step "1+3. Application Registry: an outbound OAuth provider for the product, its client id and secret"
if [ -z "$(find_id oauth_entity "name=NinjaOne")" ]; then
	"$NOWCTL" oauth provider NinjaOne --client-id "$CLIENT_ID" \
		--token-url "$PRODUCT_URL/ws/oauth/token" --grant client_credentials \
		--scope monitoring --scope management <"$CLIENT_SECRET_FILE" >/dev/null
fi
PROVIDER=$(find_id oauth_entity "name=NinjaOne")
PROFILE=$(find_id oauth_entity_profile "oauth_entity=$PROVIDER")

step "2. the dedicated API user (web service access only)"
if [ -z "$(find_id sys_user "user_name=$API_USER")" ]; then
	umask 077
	"$NOWCTL" user add "$API_USER" --web-service-only --generate-password |
		sed -n 's/^password (shown once): /password=/p' >"$SECRETS_OUT"
	chmod 600 "$SECRETS_OUT"
elif [ ! -s "$SECRETS_OUT" ]; then
	echo "setup.sh: $API_USER exists but $SECRETS_OUT does not hold its password: set a new one" \
		"(nowctl user set-password $API_USER --generate-password) and write it there" >&2
fi

if [ "$SKIP_STEP" != 2b ]; then
	step "2b. the product's tables made accessible to the API user: a role with incidents (itil),"
	step "    CIs (sn_cmdb_editor, and the IRE), companies and accounts (create/write ACLs)"
	[ -n "$(find_id sys_user_role "name=$ROLE")" ] ||
		"$NOWCTL" role add "$ROLE" --description "NinjaOne RMM integration" >/dev/null
	for contained in itil sn_cmdb_editor; do
		[ -n "$(find_id sys_user_role_contains "role.name=$ROLE^contains.name=$contained")" ] ||
			"$NOWCTL" role contain "$ROLE" "$contained" >/dev/null
	done
	# companies and accounts written; the dictionary and choices read (nowsync checks every
	# record against them before sending)
	for acl in core_company:create core_company:write customer_account:create \
		customer_account:write sys_db_object:read sys_db_object.*:read sys_dictionary:read \
		sys_dictionary.*:read sys_choice:read; do
		table=${acl%:*} op=${acl#*:}
		id=$(find_id sys_security_acl "name=$table^operation=$op^description=NinjaOne RMM: $op $table")
		if [ -z "$id" ]; then
			"$NOWCTL" acl add "$table" --operation "$op" --role "$ROLE" >/dev/null
			id=$(find_id sys_security_acl "name=$table^operation=$op^ORDERBYDESCsys_created_on")
			"$NOWCTL" table update sys_security_acl "$id" \
				"description=NinjaOne RMM: $op $table" >/dev/null
		fi
	done
	USER_ID=$(find_id sys_user "user_name=$API_USER")
	[ -n "$(find_id sys_user_has_role "user=$USER_ID^role.name=$ROLE")" ] ||
		"$NOWCTL" role grant "$ROLE" --user "$API_USER" >/dev/null
fi

step "4. the configuration: the API user and the closed states ($CLOSED_STATES, no spaces)"
"$NOWCTL" property set x_ninjarmm.product_url "$PRODUCT_URL" >/dev/null
"$NOWCTL" property set x_ninjarmm.api_user "$API_USER" >/dev/null
"$NOWCTL" property set x_ninjarmm.closed_states "$CLOSED_STATES" >/dev/null

step "5. the REST message: endpoint = the product's base URL, OAuth 2.0 with the provider's profile"
MSG=$(ensure sys_rest_message "name=NinjaOne" name=NinjaOne "rest_endpoint=$PRODUCT_URL" \
	authentication_type=oauth2 "oauth2_profile=$PROFILE")
"$NOWCTL" table update sys_rest_message "$MSG" "rest_endpoint=$PRODUCT_URL" >/dev/null
FN=$(ensure sys_rest_message_fn "rest_message=$MSG^function_name=send state" "rest_message=$MSG" \
	"function_name=send state" http_method=post \
	"rest_endpoint=$PRODUCT_URL/v2/ticketing/servicenow/incident/\${sys_id}" \
	'content={"number":"${number}","state":"${state}"}')
ensure sys_rest_message_fn_headers "rest_message_function=$FN^name=Content-Type" \
	"rest_message_function=$FN" name=Content-Type value=application/json >/dev/null
for p in sys_id:00000000000000000000000000000000 number:INC0000000 state:6; do
	ensure sys_rest_message_fn_param_defs "rest_message_function=$FN^name=${p%%:*}" \
		"rest_message_function=$FN" "name=${p%%:*}" "test_value=${p#*:}" >/dev/null
done

step "5b. Get OAuth Token: proves the link to the product"
"$NOWCTL" oauth get-token NinjaOne >/dev/null

step "4b. the rule: an incident created by the API user that enters a closed state is sent"
RULE=$(cat <<'JS'
(function executeRule(current, previous) {
    var closed = String(gs.getProperty('x_ninjarmm.closed_states', '')).split(',');
    if (current.getValue('sys_created_by') != gs.getProperty('x_ninjarmm.api_user'))
        return;
    if (!current.state.changes() || closed.indexOf(current.getValue('state')) < 0)
        return;
    var m = new sn_ws.RESTMessageV2('NinjaOne', 'send state');
    m.setStringParameterNoEscape('sys_id', current.getUniqueValue());
    m.setStringParameterNoEscape('number', current.getValue('number'));
    m.setStringParameterNoEscape('state', current.getValue('state'));
    m.executeAsync();
})(current, previous);
JS
)
ensure sys_script "name=NinjaOne closed-state sync" "name=NinjaOne closed-state sync" \
	collection=incident when=after action_update=true active=true order=100 "script=$RULE" >/dev/null
echo "NinjaOne set up: provider NinjaOne, API user $API_USER, REST message NinjaOne, closed states $CLOSED_STATES"
