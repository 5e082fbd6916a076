#!/bin/sh
# Scenario 3 (Finout-style cost anomalies to incidents): the ServiceNow side, as nowctl commands.
#
# Where: nowctl's own environment (NOWCTL_INSTANCE + NOWCTL_USER + NOWCTL_PASSWORD as an admin,
# or NOWCTL_DATA); NOWCTL names the binary (default nowctl).  Online, the ACL steps need
# snowglobe.rest.allow_elevation=true (ServiceNow elevates to security_admin in its UI only).
# Secrets made here (the user's password, the OAuth client id and secret) are appended to
# SECRETS_OUT (required; created mode 0600), as name=value lines; nothing secret on stdout.
# Idempotent: whatever exists already is left as it is (a secret is shown once, so a second
# run writes none).  SKIP_STEP=N leaves step N out (to see what the product says without it).
# Names: FINOUT_USER (finout.integration), FINOUT_ROLE (x_finout_metadata),
# FINOUT_APP (Finout), FINOUT_TABLE (incident).
set -eu

NOWCTL=${NOWCTL:-nowctl}
: "${SECRETS_OUT:?name a file for the secrets this creates (SECRETS_OUT=path)}"
USER_NAME=${FINOUT_USER:-finout.integration}
ROLE=${FINOUT_ROLE:-x_finout_metadata}
APP=${FINOUT_APP:-Finout}
TABLE=${FINOUT_TABLE:-incident}
SKIP_STEP=${SKIP_STEP:-}

umask 077
touch "$SECRETS_OUT"
chmod 600 "$SECRETS_OUT"

skip() { [ "$SKIP_STEP" = "$1" ]; }

# exists TABLE QUERY: a row of TABLE matches the encoded QUERY
exists() {
	"$NOWCTL" --json table list "$1" --query "$2" --limit 1 | grep -q '"sys_id"'
}

# read_acl NAME: an active read ACL on NAME, without a condition, that the integration's role
# satisfies (a conditioned or inactive one does not count: it may hide every row)
read_acl() {
	if ! exists sys_security_acl_role "sys_security_acl.name=$1^sys_security_acl.operation=read^sys_security_acl.active=true^sys_security_acl.conditionISEMPTY^sys_security_acl.scriptISEMPTY^sys_user_role.name=$ROLE"; then
		"$NOWCTL" acl add "$1" --operation read --role "$ROLE" >/dev/null
		echo "read ACL on $1 for role $ROLE added"
	fi
}

# Step 1 of the guide: "a dedicated user able to create incidents".  A role of its own carries
# the metadata reads of step 2; itil lets it create incidents.
if ! skip 1; then
	# Step 1: the role the read ACLs below are granted to
	exists sys_user_role "name=$ROLE" || "$NOWCTL" role add "$ROLE" \
		--description "Reads table metadata for the cost-anomaly integration"
	# Step 1: the dedicated user (its generated password goes to SECRETS_OUT only)
	if ! exists sys_user "user_name=$USER_NAME"; then
		out=$("$NOWCTL" user add "$USER_NAME" --first Finout --last Integration \
			--generate-password --role itil --role "$ROLE")
		printf 'username=%s\n' "$USER_NAME" >>"$SECRETS_OUT"
		printf '%s\n' "$out" | sed -n 's/^password (shown once): /password=/p' >>"$SECRETS_OUT"
		echo "user $USER_NAME added (password in $SECRETS_OUT)"
	fi
	# Step 1: "able to create incidents" (itil), and the metadata role; granted again if removed
	for r in itil "$ROLE"; do
		exists sys_user_has_role "user.user_name=$USER_NAME^role.name=$r" ||
			"$NOWCTL" role grant "$r" --user "$USER_NAME" >/dev/null
	done
fi

# Step 2 of the guide: read ACLs on sys_db_object, sys_db_object.*, sys_dictionary,
# sys_dictionary.* and sys_glide_object
if ! skip 2; then
	for acl in sys_db_object 'sys_db_object.*' sys_dictionary 'sys_dictionary.*' sys_glide_object; do
		read_acl "$acl"
	done
fi

# Step 3 of the guide: "Create an OAuth API endpoint for external clients": any name, client type
# "integration as a service", redirect URL and logo URL left empty; the secret is shown once
if ! skip 3; then
	if ! exists oauth_entity "name=$APP"; then
		out=$("$NOWCTL" oauth add "$APP" --grant password --client-type integration_service)
		printf '%s\n' "$out" | sed -n 's/^client_id: /client_id=/p; s/^client_secret (shown once): /client_secret=/p' >>"$SECRETS_OUT"
		echo "OAuth application $APP added (client id and secret in $SECRETS_OUT)"
	fi
fi

# Step 4 (Snowglobe's addition, so that the "additional fields" are real): two custom fields on
# the incident table, one a choice with its sys_choice values, and a read ACL on sys_choice so
# that the product can offer those values
if ! skip 4; then
	exists sys_dictionary "name=$TABLE^element=u_cost_center" || "$NOWCTL" table create sys_dictionary \
		name="$TABLE" element=u_cost_center internal_type=string max_length=40 \
		column_label="Cost center" >/dev/null
	exists sys_dictionary "name=$TABLE^element=u_anomaly_type" || "$NOWCTL" table create sys_dictionary \
		name="$TABLE" element=u_anomaly_type internal_type=choice max_length=40 choice=1 \
		column_label="Anomaly type" >/dev/null
	seq=10
	for pair in spike:Spike drift:Drift new_service:'New service'; do
		value=${pair%%:*}
		exists sys_choice "name=$TABLE^element=u_anomaly_type^value=$value" || "$NOWCTL" table create \
			sys_choice name="$TABLE" element=u_anomaly_type value="$value" label="${pair#*:}" \
			sequence=$seq language=en >/dev/null
		seq=$((seq + 10))
	done
	read_acl sys_choice
fi
echo "cost-anomalies set-up done"
