"""What an admin following the integration guides met (issue 17): incident_manager contains itil,
role containment by nowctl (loops refused), the Application Registry listed and deleted with its
tokens, scopes and profiles, a rotated secret that revokes the old tokens, sys_choice under
ServiceNow's choice-list ACLs, the dictionary's boolean flags and display fields as data, and a
reference value that names no record.
"""
import uuid

import pytest
import requests

from conftest import PASSWORD, as_user, nowctl


def unique(prefix):
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def make_user(server, roles=(), offline=False):
    name = unique("u")
    args = ["user", "add", name, "--first", "Guide", "--password", "Guide-pass-123"]
    for r in roles:
        args += ["--role", r]
    nowctl(server, *args, offline=offline)
    return name, "Guide-pass-123"


def contains_rows(server, role):
    r = server.get("/api/now/table/sys_user_role_contains",
                   params={"sysparm_query": f"role.name={role}", "sysparm_display_value": "true",
                           "sysparm_exclude_reference_link": "true"})
    assert r.status_code == 200, r.text
    return {row["contains"] for row in r.json()["result"]}


# ---- 1. roles as ServiceNow ships them -----------------------------------------------------

def test_incident_manager_contains_itil_and_creates_incidents(server):
    assert "itil" in contains_rows(server, "incident_manager")
    name, pw = make_user(server, ["incident_manager"])
    call = as_user(server, name, pw)
    r = call("POST", "/api/now/table/incident", json={"short_description": "from the guide"})
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("role,inner", [
    ("sn_incident_admin", "incident_manager"),   # doc: inci-roles-instld-itsm-roles
    ("sn_incident_write", "sn_incident_read"),
    ("sn_cmdb_user", "cmdb_read"),
    ("itil", "sn_request_write"),                 # reference 5.2
])
def test_itsm_role_containment(server, role, inner):
    assert inner in contains_rows(server, role)


def test_roles_the_guides_name_exist(server):
    for role in ("cmdb_read", "sn_cmdb_user", "itil", "incident_manager", "web_service_admin",
                 "rest_service", "personalize_choices"):
        r = server.get("/api/now/table/sys_user_role", params={"name": role})
        assert len(r.json()["result"]) == 1, role


# ---- 2. nowctl role contain / uncontain ----------------------------------------------------

@pytest.mark.parametrize("offline", [False, True])
def test_role_contain_and_undo(fresh, offline):
    outer, inner = unique("x_outer"), unique("x_inner")
    nowctl(fresh, "role", "add", outer, offline=offline)
    nowctl(fresh, "role", "add", inner, offline=offline)
    r = nowctl(fresh, "role", "contain", outer, "itil", offline=offline)
    assert f"{outer} contains itil" in r.stdout
    nowctl(fresh, "role", "contain", outer, inner, offline=offline)
    nowctl(fresh, "role", "contain", outer, inner, offline=offline)  # again: nothing new
    assert contains_rows(fresh, outer) == {"itil", inner}
    name, pw = make_user(fresh, [outer])
    call = as_user(fresh, name, pw)
    assert call("POST", "/api/now/table/incident", json={"short_description": "x"}).status_code == 201
    r = nowctl(fresh, "role", "uncontain", outer, "itil", offline=offline)
    assert f"{outer} no longer contains itil" in r.stdout
    assert contains_rows(fresh, outer) == {inner}
    assert call("POST", "/api/now/table/incident", json={"short_description": "x"}).status_code == 403
    r = nowctl(fresh, "role", "uncontain", outer, "itil", offline=offline, ok=False)
    assert r.returncode == 1 and "does not contain itil" in r.stderr
    r = nowctl(fresh, "role", "contain", outer, "no_such_role_zz", offline=offline, ok=False)
    assert r.returncode == 1 and "no sys_user_role 'no_such_role_zz'" in r.stderr
    r = nowctl(fresh, "role", "contain", outer, offline=offline, ok=False)
    assert r.returncode == 2


@pytest.mark.parametrize("offline", [False, True])
def test_role_containment_loops_refused(fresh, offline):
    a, b, c = unique("x_a"), unique("x_b"), unique("x_c")
    for n in (a, b, c):
        nowctl(fresh, "role", "add", n, offline=offline)
    nowctl(fresh, "role", "contain", a, b, offline=offline)
    nowctl(fresh, "role", "contain", b, c, offline=offline)
    for outer, inner in ((c, a), (b, a), (a, a)):
        r = nowctl(fresh, "role", "contain", outer, inner, offline=offline, ok=False)
        assert r.returncode == 1, r.stdout
        assert "containment loop" in r.stderr, r.stderr
    assert contains_rows(fresh, c) == set()
    # The Table API refuses the same row, with ServiceNow's error shape.
    ids = {}
    for n in (a, c):
        ids[n] = fresh.get("/api/now/table/sys_user_role", params={"name": n}).json()["result"][0]["sys_id"]
    r = fresh.post("/api/now/table/sys_user_role_contains", json={"role": ids[c], "contains": ids[a]})
    assert r.status_code == 403, r.text
    assert r.json()["status"] == "failure" and "loop" in r.json()["error"]["detail"]
    # A chain that does not close is fine.
    nowctl(fresh, "role", "contain", a, c, offline=offline)


# ---- 3. nowctl oauth list / delete / rotate-secret --revoke-tokens -------------------------

def password_token(server, client_id, secret, user="admin", password=PASSWORD):
    return requests.post(server.url + "/oauth_token.do", data={
        "grant_type": "password", "client_id": client_id, "client_secret": secret,
        "username": user, "password": password})


def bearer_ok(server, token):
    r = requests.get(server.url + "/api/now/table/incident", params={"sysparm_limit": "1"},
                     headers={"Authorization": "Bearer " + token, "Accept": "application/json"})
    return r.status_code == 200


def add_app(server, name, *extra, offline=False):
    r = nowctl(server, "--json", "oauth", "add", name, "--grant", "password", *extra, offline=offline)
    import json
    out = json.loads(r.stdout)
    return out["client_id"], out["client_secret"]


@pytest.mark.parametrize("offline", [False, True])
def test_oauth_list_never_shows_a_secret(fresh, offline):
    import json
    app = unique("inbound")
    cid, secret = add_app(fresh, app, offline=offline)
    prov = unique("provider")
    nowctl(fresh, "oauth", "provider", prov, "--client-id", "prov-client", "--token-url",
           "http://127.0.0.1:9/token", stdin="prov-secret-value\n", offline=offline)
    r = nowctl(fresh, "oauth", "list", offline=offline)
    assert app in r.stdout and prov in r.stdout and cid in r.stdout
    assert secret not in r.stdout and "prov-secret-value" not in r.stdout
    r = nowctl(fresh, "--json", "oauth", "list", offline=offline)
    rows = {row["name"]: row for row in json.loads(r.stdout)}
    assert rows[app]["direction"] == "inbound" and rows[app]["client_id"] == cid
    assert rows[prov]["direction"] == "outbound" and rows[prov]["type"] == "oauth_provider"
    assert secret not in r.stdout and "prov-secret-value" not in r.stdout
    assert all("client_secret" not in row for row in rows.values())


@pytest.mark.parametrize("offline", [False, True])
def test_oauth_delete_takes_tokens_scopes_and_profiles(fresh, offline):
    fresh.set_property("glide.oauth.inbound.client.credential.grant_type.enabled", "true")
    scope = unique("scope")
    nowctl(fresh, "scope", "add", scope, offline=offline)
    app = unique("app")
    cid, secret = add_app(fresh, app, "--scope", scope, offline=offline)
    r = password_token(fresh, cid, secret)
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    assert bearer_ok(fresh, token)
    entity = fresh.get("/api/now/table/oauth_entity", params={"name": app}).json()["result"][0]["sys_id"]
    links = fresh.get("/api/now/table/oauth_entity_auth_scope", params={"oauth_entity": entity}).json()
    assert len(links["result"]) == 1
    creds = fresh.get("/api/now/table/oauth_credential", params={"peer": entity}).json()["result"]
    assert creds
    r = nowctl(fresh, "oauth", "delete", app, offline=offline)
    assert "deleted" in r.stdout
    assert fresh.get("/api/now/table/oauth_entity", params={"name": app}).json()["result"] == []
    for table, field in (("oauth_entity_auth_scope", "oauth_entity"), ("oauth_credential", "peer"),
                         ("oauth_entity_profile", "oauth_entity")):
        rows = fresh.get(f"/api/now/table/{table}", params={field: entity}).json()["result"]
        assert rows == [], (table, rows)
    assert not bearer_ok(fresh, token)
    # The scope itself stays: other applications may use it.
    assert len(fresh.get("/api/now/table/sys_auth_scope", params={"name": scope}).json()["result"]) == 1
    r = nowctl(fresh, "oauth", "delete", app, offline=offline, ok=False)
    assert r.returncode == 1 and f"no oauth_entity '{app}'" in r.stderr


def test_oauth_delete_of_a_provider_takes_its_profiles(fresh):
    prov = unique("provider")
    nowctl(fresh, "oauth", "provider", prov, "--client-id", "c", "--token-url",
           "http://127.0.0.1:9/token", stdin="s3cret-value\n")
    entity = fresh.get("/api/now/table/oauth_entity", params={"name": prov}).json()["result"][0]["sys_id"]
    assert fresh.get("/api/now/table/oauth_entity_profile", params={"oauth_entity": entity}).json()["result"]
    nowctl(fresh, "oauth", "delete", prov)
    assert fresh.get("/api/now/table/oauth_entity_profile", params={"oauth_entity": entity}).json()["result"] == []


@pytest.mark.parametrize("offline", [False, True])
def test_rotate_secret_optionally_revokes_old_tokens(fresh, offline):
    import json
    app = unique("rot")
    cid, secret = add_app(fresh, app, offline=offline)
    t1 = password_token(fresh, cid, secret).json()["access_token"]
    r = nowctl(fresh, "--json", "oauth", "rotate-secret", app, offline=offline)
    secret2 = json.loads(r.stdout)["client_secret"]
    assert bearer_ok(fresh, t1)          # without the flag, old tokens live on
    assert password_token(fresh, cid, secret).status_code == 401
    t2 = password_token(fresh, cid, secret2).json()["access_token"]
    r = nowctl(fresh, "oauth", "rotate-secret", app, "--revoke-tokens", offline=offline)
    assert "revoked" in r.stdout
    assert not bearer_ok(fresh, t1) and not bearer_ok(fresh, t2)


# ---- 4. sys_choice under the choice-list ACLs ----------------------------------------------

def test_sys_choice_readable_as_servicenow_grants_it(fresh):
    # The cost-anomaly guide's metadata user: read ACLs on the five names, a role of its own.
    role = unique("x_meta")
    nowctl(fresh, "role", "add", role)
    for n in ("sys_db_object", "sys_db_object.*", "sys_dictionary", "sys_dictionary.*", "sys_glide_object"):
        nowctl(fresh, "acl", "add", n, "--operation", "read", "--role", role, offline=True)
    name, pw = make_user(fresh, [role])
    call = as_user(fresh, name, pw)
    q = {"sysparm_query": "name=incident^element=state", "sysparm_limit": "50"}
    assert call("GET", "/api/now/table/sys_dictionary", params=q).status_code == 200
    assert call("GET", "/api/now/table/sys_choice", params=q).status_code == 403
    # personalize_choices reads (and only it, or admin) -- doc: c_ChoiceListSecurity
    nowctl(fresh, "role", "grant", "personalize_choices", "--user", name)
    r = call("GET", "/api/now/table/sys_choice", params=q)
    assert r.status_code == 200, r.text
    assert {c["value"] for c in r.json()["result"]} >= {"1", "2", "6", "7"}


# ---- 5. the dictionary's flags as data -----------------------------------------------------

BOOLEANS = ("mandatory", "read_only", "display", "unique", "audit", "active", "primary", "virtual")


def test_dictionary_boolean_flags_are_true_or_false(server):
    r = server.get("/api/now/table/sys_dictionary", params={"sysparm_limit": "10000"})
    rows = r.json()["result"]
    assert len(rows) > 500
    for row in rows:
        for flag in BOOLEANS:
            assert row[flag] in ("true", "false"), (row["name"], row["element"], flag, row[flag])


@pytest.mark.parametrize("table,element", [
    ("task", "number"), ("core_company", "name"), ("sys_user", "name"), ("sys_user_group", "name"),
    ("cmn_location", "name"), ("sys_dictionary", "column_label"), ("sys_choice", "label"),
])
def test_display_fields_are_marked(server, table, element):
    r = server.get("/api/now/table/sys_dictionary",
                   params={"sysparm_query": f"name={table}^display=true", "sysparm_fields": "element"})
    assert [row["element"] for row in r.json()["result"]] == [element]


def test_display_marks_agree_with_the_display_values(server):
    """The marked field is the one the instance renders references with, and the primary key
    is marked primary."""
    inc = server.get("/api/now/table/incident", params={"sysparm_query": "caller_idISNOTEMPTY", "sysparm_limit": "1",
                                                        "sysparm_display_value": "all",
                                                        "sysparm_fields": "caller_id"}).json()["result"]
    assert inc
    u = server.get(f"/api/now/table/sys_user/{inc[0]['caller_id']['value']}").json()["result"]
    assert inc[0]["caller_id"]["display_value"] == u["name"]
    r = server.get("/api/now/table/sys_dictionary",
                   params={"sysparm_query": "name=task^primary=true", "sysparm_fields": "element"})
    assert [row["element"] for row in r.json()["result"]] == ["sys_id"]


# ---- 6. a reference value that names no record ---------------------------------------------

def test_unmatched_reference_cleared_by_default(fresh):
    r = fresh.post("/api/now/table/incident", json={"short_description": "ref", "caller_id": "Nobody At All"})
    assert r.status_code == 201, r.text
    assert r.json()["result"]["caller_id"] == ""
    # a well-formed sys_id is stored as given, found or not (the platform does not look it up)
    missing = uuid.uuid4().hex
    r = fresh.post("/api/now/table/incident", json={"short_description": "ref", "caller_id": missing})
    assert r.status_code == 201 and r.json()["result"]["caller_id"]["value"] == missing
    # a 32-character id that is no sys_id and no display value is cleared like any other
    r = fresh.post("/api/now/table/incident", json={"short_description": "ref", "caller_id": "Z" * 32})
    assert r.status_code == 201 and r.json()["result"]["caller_id"] == ""
    # a display value that matches is resolved, a sys_id that exists kept
    admin = fresh.get("/api/now/table/sys_user", params={"user_name": "admin"}).json()["result"][0]
    for v in (admin["name"], admin["sys_id"]):
        r = fresh.post("/api/now/table/incident", json={"short_description": "ref", "caller_id": v})
        assert r.json()["result"]["caller_id"]["value"] == admin["sys_id"]


def test_unmatched_reference_keep_and_refuse(fresh):
    fresh.set_property("snowglobe.reference.unmatched", "keep")
    r = fresh.post("/api/now/table/incident", json={"short_description": "ref", "caller_id": "Nobody At All"})
    assert r.status_code == 201 and r.json()["result"]["caller_id"]["value"] == "Nobody At All"
    fresh.set_property("snowglobe.reference.unmatched", "refuse")
    before = fresh.get("/api/now/stats/incident", params={"sysparm_count": "true"}).json()["result"]["stats"]["count"]
    r = fresh.post("/api/now/table/incident", json={"short_description": "ref", "caller_id": "Nobody At All"})
    assert r.status_code == 403, r.text
    body = r.json()
    assert body["status"] == "failure" and body["error"]["message"] == "Operation Failed"
    assert "caller_id" in body["error"]["detail"]
    after = fresh.get("/api/now/stats/incident", params={"sysparm_count": "true"}).json()["result"]["stats"]["count"]
    assert after == before
    # PATCH too; the record is unchanged
    inc = fresh.get("/api/now/table/incident", params={"sysparm_limit": "1"}).json()["result"][0]
    r = fresh.patch(f"/api/now/table/incident/{inc['sys_id']}", json={"caller_id": "No One Either"})
    assert r.status_code == 403
    assert fresh.get(f"/api/now/table/incident/{inc['sys_id']}").json()["result"]["sys_mod_count"] == inc["sys_mod_count"]
