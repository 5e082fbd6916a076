"""Every path that reads data passes the Table API's ACLs (issue 12, defects 1-4).

The Aggregate API, JOIN, RLQUERY, dot-walks in queries and sorts, 123TEXTQUERY321 and
dot-walks in sysparm_fields are each attacked the way the issue reports it; password fields
are never readable, queryable, sortable or aggregatable, whoever asks. JOIN and RLQUERY
sub-queries consult only the rows of the other table its row ACLs let the user read; the
Aggregate API shows a grouped reference's display value only when the referenced record and its
display field may be read.
"""
import json

import pytest

from conftest import Server, nowctl, reader

QUERY_FIELD = json.dumps({"error": {"message": "Insufficient rights to query records",
                                    "detail": "Field(s) present in the query do not have permission to be read"},
                          "status": "failure"}, separators=(",", ":"))


def with_users():
    """A fresh instance where abel.tuter (snc_internal, demo data) and nobody.user (no role) have
    passwords; abel acts through s.abel (GETs)."""
    s = Server()
    s.set_property("snowglobe.rest.allow_elevation", "true")
    nowctl(s, "user", "add", "nobody.user", "--password", "Nobody-pass-12")
    uid = s.get("/api/now/table/sys_user", params={"user_name": "abel.tuter"}).json()["result"][0]["sys_id"]
    s.patch(f"/api/now/table/sys_user/{uid}", json={"user_password": "Abel-pass-12"})
    s.abel_id = uid
    s.abel = reader(s, "abel.tuter", "Abel-pass-12")
    return s


@pytest.fixture(scope="module")
def inst():
    s = with_users()
    s.plain = reader(s, "nobody.user", "Nobody-pass-12")
    yield s
    s.stop()


def refused(r):
    assert r.status_code == 403, r.text
    assert "argon2" not in r.text
    return r


# ---- 1. Aggregate API ---------------------------------------------------------------------

def test_stats_never_aggregates_passwords(inst):
    r = refused(inst.plain("/api/now/stats/sys_user",
                           params={"sysparm_max_fields": "user_password", "sysparm_query": "user_name=admin"}))
    assert r.text == QUERY_FIELD
    # not even for admin, and not through any parameter
    for params in ({"sysparm_max_fields": "user_password"}, {"sysparm_min_fields": "user_password"},
                   {"sysparm_group_by": "user_password", "sysparm_count": "true"},
                   {"sysparm_count": "true", "sysparm_group_by": "user_name",
                    "sysparm_having": "max^user_password^>^0"},
                   {"sysparm_count": "true", "sysparm_group_by": "user_name",
                    "sysparm_orderby": "max^user_password"},
                   {"sysparm_count": "true", "sysparm_query": "user_passwordSTARTSWITH$"}):
        refused(inst.get("/api/now/stats/sys_user", params=params))
        refused(inst.plain("/api/now/stats/sys_user", params=params))


def test_stats_counts_only_readable_rows(inst):
    # abel (snc_internal) reads 3 of the 7 incidents: the aggregate counts those 3
    r = inst.abel("/api/now/stats/incident", params={"sysparm_count": "true"})
    assert r.status_code == 200 and r.json()["result"]["stats"]["count"] == "3"
    assert inst.get("/api/now/stats/incident", params={"sysparm_count": "true"}).json()["result"]["stats"]["count"] == "7"
    mine = {x["short_description"] for x in inst.abel("/api/now/table/incident",
                                                        params={"sysparm_fields": "short_description"}).json()["result"]}
    r = inst.abel("/api/now/stats/incident", params={"sysparm_count": "true", "sysparm_group_by": "short_description"})
    assert r.status_code == 200
    groups = {g["groupby_fields"][0]["value"] for g in r.json()["result"]}
    assert groups == mine
    assert sum(int(g["stats"]["count"]) for g in r.json()["result"]) == 3


def test_stats_field_acls(inst):
    nowctl(inst, "acl", "add", "incident.description", "--operation", "read", "--role", "nobody")
    for params in ({"sysparm_group_by": "description", "sysparm_count": "true"},
                   {"sysparm_min_fields": "description"},
                   {"sysparm_count": "true", "sysparm_group_by": "number", "sysparm_having": "min^description^>^0"},
                   {"sysparm_count": "true", "sysparm_query": "descriptionLIKEa"}):
        r = refused(inst.abel("/api/now/stats/incident", params=params))
        assert r.text == QUERY_FIELD
    assert inst.abel("/api/now/stats/incident", params={"sysparm_min_fields": "number"}).status_code == 200


# ---- 2. JOIN and RLQUERY ------------------------------------------------------------------

def test_join_and_rlquery_check_the_other_table(inst):
    assert inst.plain("/api/now/table/sys_user_has_role").status_code == 403
    q = "JOINsys_user.sys_id=sys_user_has_role.user!role.name=admin"
    refused(inst.plain("/api/now/table/sys_user", params={"sysparm_query": q}))
    refused(inst.plain("/api/now/stats/sys_user", params={"sysparm_query": q, "sysparm_count": "true"}))
    q = "RLQUERYsys_user_has_role.user,>=1^role.name=admin^ENDRLQUERY"
    refused(inst.plain("/api/now/table/sys_user", params={"sysparm_query": q}))
    # a sys_properties value cannot be probed through a JOIN by one who may not read the table
    assert inst.plain("/api/now/table/sys_properties").status_code == 403
    q = "JOINsys_user.user_name=sys_properties.name!valueSTARTSWITHa"
    refused(inst.plain("/api/now/table/sys_user", params={"sysparm_query": q}))
    # the sub-query's fields follow the same rules, admin included for passwords
    q = "JOINincident.caller_id=sys_user.sys_id!user_passwordSTARTSWITH$"
    refused(inst.get("/api/now/table/incident", params={"sysparm_query": q}))
    # what is allowed still works
    q = "JOINsys_user.sys_id=sys_user_has_role.user!role.name=admin"
    r = inst.get("/api/now/table/sys_user", params={"sysparm_query": q, "sysparm_fields": "user_name"})
    assert r.status_code == 200 and {"user_name": "admin"} in r.json()["result"]


# ---- 3. dot-walks, ORDERBY, 123TEXTQUERY321 -----------------------------------------------

def test_dot_walks_check_every_segment(inst):
    for who in (inst.abel, inst.get):
        r = refused(who("/api/now/table/incident", params={"sysparm_query": "caller_id.user_passwordSTARTSWITH$"}))
        assert r.text == QUERY_FIELD and "X-Total-Count" not in r.headers
        refused(who("/api/now/table/sys_user", params={"sysparm_query": "ORDERBYuser_password"}))
        refused(who("/api/now/table/sys_user", params={"sysparm_query": "ORDERBYDESCmanager.user_password"}))
        refused(who("/api/now/table/sys_user", params={"sysparm_query": "user_nameSAMEASuser_password"}))
    nowctl(inst, "acl", "add", "sys_user.email", "--operation", "read", "--role", "admin")
    r = refused(inst.abel("/api/now/table/incident", params={"sysparm_query": "caller_id.emailLIKE@"}))
    assert r.text == QUERY_FIELD
    refused(inst.abel("/api/now/table/incident", params={"sysparm_query": "ORDERBYcaller_id.email"}))
    assert inst.abel("/api/now/table/incident", params={"sysparm_query": "caller_id.nameLIKEa"}).status_code == 200
    assert inst.get("/api/now/table/incident", params={"sysparm_query": "caller_id.emailLIKE@"}).status_code == 200


def test_text_query_only_over_readable_fields(inst):
    assert inst.abel("/api/now/table/cmn_location",
                     params={"sysparm_query": "123TEXTQUERY321=a"}).status_code == 200
    nowctl(inst, "acl", "add", "cmn_location.street", "--operation", "read", "--role", "admin")
    for q in ("123TEXTQUERY321=a", "nameLIKEa^123TEXTQUERY321=Main"):
        r = refused(inst.abel("/api/now/table/cmn_location", params={"sysparm_query": q}))
        assert r.text == QUERY_FIELD
        refused(inst.abel("/api/now/stats/cmn_location", params={"sysparm_query": q, "sysparm_count": "true"}))
    assert inst.get("/api/now/table/cmn_location", params={"sysparm_query": "123TEXTQUERY321=a"}).status_code == 200
    # incident.description is nobody's (test_stats_field_acls): no one text-searches incidents
    refused(inst.get("/api/now/table/incident", params={"sysparm_query": "123TEXTQUERY321=printer"}))


# ---- 4. dot-walks in sysparm_fields ---------------------------------------------------------

def test_fields_dot_walks_follow_the_target_acls(inst):
    # a group with an email on one of abel's incidents
    inc = inst.abel("/api/now/table/incident", params={"sysparm_fields": "sys_id,number"}).json()["result"][0]
    grp = inst.get("/api/now/table/sys_user_group", params={"sysparm_limit": "1"}).json()["result"][0]
    inst.patch(f"/api/now/table/sys_user_group/{grp['sys_id']}", json={"email": "grp@example.com"})
    other = inst.get("/api/now/table/sys_user", params={"user_name": "nobody.user"}).json()["result"][0]
    inst.patch(f"/api/now/table/sys_user/{other['sys_id']}", json={"mobile_phone": "+1 555 0100"})
    inst.patch(f"/api/now/table/sys_user/{inst.abel_id}", json={"mobile_phone": "+1 555 0199"})
    inst.patch(f"/api/now/table/incident/{inc['sys_id']}",
               json={"assignment_group": grp["sys_id"], "assigned_to": other["sys_id"]})
    fields = "number,assignment_group.name,caller_id.mobile_phone,assigned_to.mobile_phone"
    one = inst.abel(f"/api/now/table/incident/{inc['sys_id']}", params={"sysparm_fields": fields}).json()["result"]
    assert one["assignment_group.name"] and one["assigned_to.mobile_phone"] == "+1 555 0100"
    # sys_user_group admin-only: nothing of it through a dot-walk
    nowctl(inst, "acl", "add", "sys_user_group", "--operation", "read", "--role", "admin", "--deny-unless")
    assert inst.abel("/api/now/table/sys_user_group").status_code == 403
    # mobile_phone readable only on one's own record
    nowctl(inst, "acl", "add", "sys_user.mobile_phone", "--operation", "read", "--role", "snc_internal",
           "--condition", "sys_id=javascript:gs.getUserID()")
    fields += ",assignment_group.email"
    one = inst.abel(f"/api/now/table/incident/{inc['sys_id']}", params={"sysparm_fields": fields}).json()["result"]
    assert one["number"] == inc["number"]
    assert "assignment_group.name" not in one and "assignment_group.email" not in one
    assert "assigned_to.mobile_phone" not in one
    assert one["caller_id.mobile_phone"] == "+1 555 0199"
    rows = inst.abel("/api/now/table/incident", params={"sysparm_fields": fields}).json()["result"]
    assert all("assignment_group.email" not in x for x in rows)
    assert all(x.get("assigned_to.mobile_phone", "") in ("", "+1 555 0199") for x in rows)
    assert inst.abel("/api/now/table/incident", params={"sysparm_fields": fields}).status_code == 200
    # admin still sees them
    one = inst.get(f"/api/now/table/incident/{inc['sys_id']}", params={"sysparm_fields": fields}).json()["result"]
    assert one["assignment_group.email"] == "grp@example.com" and one["assigned_to.mobile_phone"] == "+1 555 0100"


# ---- row ACLs of the other table; display values of grouped references -------------------------

SECRET = "Hidden merger plan 7731"


@pytest.fixture(scope="module")
def rows_inst():
    """with_users(), and an incident abel may not read (the base incident ACL: caller or opener
    only)."""
    s = with_users()
    s.other_id = s.get("/api/now/table/sys_user",
                       params={"user_name": "nobody.user"}).json()["result"][0]["sys_id"]
    r = s.post("/api/now/table/incident", json={"short_description": SECRET, "caller_id": s.other_id})
    assert r.status_code == 201, r.text
    s.hidden = r.json()["result"]["sys_id"]
    yield s
    s.stop()


def users(r):
    assert r.status_code == 200, r.text
    return {x["user_name"] for x in r.json()["result"]}


# ---- JOIN and RLQUERY: the other table's row ACLs ------------------------------------------

def test_join_does_not_match_through_hidden_rows(rows_inst):
    assert rows_inst.abel(f"/api/now/table/incident/{rows_inst.hidden}").status_code == 404
    assert rows_inst.abel("/api/now/table/sys_user", params={"user_name": "nobody.user"}).json()["result"]
    q = f"JOINsys_user.sys_id=incident.caller_id!short_description={SECRET}"
    params = {"sysparm_query": q, "sysparm_fields": "user_name"}
    assert users(rows_inst.get("/api/now/table/sys_user", params=params)) == {"nobody.user"}
    r = rows_inst.abel("/api/now/table/sys_user", params=params)
    assert users(r) == set() and r.headers["X-Total-Count"] == "0"
    r = rows_inst.abel("/api/now/stats/sys_user", params={"sysparm_query": q, "sysparm_count": "true"})
    assert r.status_code == 200 and r.json()["result"]["stats"]["count"] == "0"
    # ... nor through a JOIN with a condition on the hidden rows' values
    q = f"JOINsys_user.sys_id=incident.caller_id!short_descriptionSTARTSWITHHidden merger"
    assert users(rows_inst.abel("/api/now/table/sys_user", params={"sysparm_query": q})) == set()


def test_join_still_matches_readable_rows(rows_inst):
    mine = rows_inst.abel("/api/now/table/incident",
                     params={"sysparm_fields": "number", "sysparm_query": f"caller_id={rows_inst.abel_id}"}).json()["result"]
    assert mine
    q = f"JOINsys_user.sys_id=incident.caller_id!number={mine[0]['number']}"
    assert users(rows_inst.abel("/api/now/table/sys_user", params={"sysparm_query": q})) == {"abel.tuter"}


def test_rlquery_counts_only_readable_rows(rows_inst):
    q = f"RLQUERYincident.caller_id,>=1^short_description={SECRET}^ENDRLQUERY"
    assert users(rows_inst.get("/api/now/table/sys_user", params={"sysparm_query": q})) == {"nobody.user"}
    assert users(rows_inst.abel("/api/now/table/sys_user", params={"sysparm_query": q})) == set()
    r = rows_inst.abel("/api/now/stats/sys_user", params={"sysparm_query": q, "sysparm_count": "true"})
    assert r.status_code == 200 and r.json()["result"]["stats"]["count"] == "0"
    # abel is the caller of n readable incidents: RLQUERY counts those, not the hidden ones
    n = len(rows_inst.abel("/api/now/table/incident", params={"sysparm_query": f"caller_id={rows_inst.abel_id}"}).json()["result"])
    q = f"user_name=abel.tuter^RLQUERYincident.caller_id,={n}^ENDRLQUERY"
    assert users(rows_inst.abel("/api/now/table/sys_user", params={"sysparm_query": q})) == {"abel.tuter"}
    # nobody.user is the caller of one incident, which abel may not read: 0 for abel
    q = "user_name=nobody.user^RLQUERYincident.caller_id,=0^ENDRLQUERY"
    assert users(rows_inst.abel("/api/now/table/sys_user", params={"sysparm_query": q})) == {"nobody.user"}
    assert users(rows_inst.get("/api/now/table/sys_user", params={"sysparm_query": q})) == set()


# ---- Aggregate API: display values of grouped references -----------------------------------

def groups(r):
    assert r.status_code == 200, r.text
    return {g["groupby_fields"][0]["value"]: g["groupby_fields"][0]["display_value"] for g in r.json()["result"]}


def test_grouped_reference_display_follows_the_target_acls(rows_inst):
    params = {"sysparm_count": "true", "sysparm_group_by": "caller_id", "sysparm_display_value": "true"}
    before = groups(rows_inst.abel("/api/now/stats/incident", params=params))
    assert before.get(rows_inst.abel_id) == "Abel Tuter"
    # the display field of sys_user (name) becomes admin-only
    nowctl(rows_inst, "acl", "add", "sys_user.name", "--operation", "read", "--role", "admin")
    shown = groups(rows_inst.abel("/api/now/stats/incident", params=params))
    assert shown and all(v == "" for k, v in shown.items() if k)
    assert groups(rows_inst.get("/api/now/stats/incident", params=params)).get(rows_inst.abel_id) == "Abel Tuter"
    # the referenced table becomes admin-only
    params["sysparm_group_by"] = "assignment_group"
    named = {k: v for k, v in groups(rows_inst.get("/api/now/stats/incident", params=params)).items() if k}
    assert named and all(named.values())
    nowctl(rows_inst, "acl", "add", "sys_user_group", "--operation", "read", "--role", "admin", "--deny-unless")
    hidden = groups(rows_inst.abel("/api/now/stats/incident", params=params))
    assert all(v == "" for k, v in hidden.items() if k)
    assert {k: v for k, v in groups(rows_inst.get("/api/now/stats/incident", params=params)).items() if k} == named
