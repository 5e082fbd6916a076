"""Every path that reads data passes the Table API's ACLs, continued (issue 12, defects 1-4).

JOIN and RLQUERY sub-queries consult only the rows of the other table its row ACLs let the user
read; the Aggregate API shows a grouped reference's display value only when the referenced
record and its display field may be read.
"""

import pytest

from conftest import Server, nowctl, reader

SECRET = "Hidden merger plan 7731"


@pytest.fixture(scope="module")
def inst():
    s = Server()
    s.set_property("snowglobe.rest.allow_elevation", "true")
    nowctl(s, "user", "add", "nobody.user", "--password", "Nobody-pass-12")
    uid = s.get("/api/now/table/sys_user", params={"user_name": "abel.tuter"}).json()["result"][0]["sys_id"]
    s.patch(f"/api/now/table/sys_user/{uid}", json={"user_password": "Abel-pass-12"})
    s.abel_id = uid
    s.abel = reader(s, "abel.tuter", "Abel-pass-12")
    # an incident abel may not read (the base incident ACL: caller or opener only)
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

def test_join_does_not_match_through_hidden_rows(inst):
    assert inst.abel(f"/api/now/table/incident/{inst.hidden}").status_code == 404
    assert inst.abel("/api/now/table/sys_user", params={"user_name": "nobody.user"}).json()["result"]
    q = f"JOINsys_user.sys_id=incident.caller_id!short_description={SECRET}"
    params = {"sysparm_query": q, "sysparm_fields": "user_name"}
    assert users(inst.get("/api/now/table/sys_user", params=params)) == {"nobody.user"}
    r = inst.abel("/api/now/table/sys_user", params=params)
    assert users(r) == set() and r.headers["X-Total-Count"] == "0"
    r = inst.abel("/api/now/stats/sys_user", params={"sysparm_query": q, "sysparm_count": "true"})
    assert r.status_code == 200 and r.json()["result"]["stats"]["count"] == "0"
    # ... nor through a JOIN with a condition on the hidden rows' values
    q = f"JOINsys_user.sys_id=incident.caller_id!short_descriptionSTARTSWITHHidden merger"
    assert users(inst.abel("/api/now/table/sys_user", params={"sysparm_query": q})) == set()


def test_join_still_matches_readable_rows(inst):
    mine = inst.abel("/api/now/table/incident",
                     params={"sysparm_fields": "number", "sysparm_query": f"caller_id={inst.abel_id}"}).json()["result"]
    assert mine
    q = f"JOINsys_user.sys_id=incident.caller_id!number={mine[0]['number']}"
    assert users(inst.abel("/api/now/table/sys_user", params={"sysparm_query": q})) == {"abel.tuter"}


def test_rlquery_counts_only_readable_rows(inst):
    q = f"RLQUERYincident.caller_id,>=1^short_description={SECRET}^ENDRLQUERY"
    assert users(inst.get("/api/now/table/sys_user", params={"sysparm_query": q})) == {"nobody.user"}
    assert users(inst.abel("/api/now/table/sys_user", params={"sysparm_query": q})) == set()
    r = inst.abel("/api/now/stats/sys_user", params={"sysparm_query": q, "sysparm_count": "true"})
    assert r.status_code == 200 and r.json()["result"]["stats"]["count"] == "0"
    # abel is the caller of n readable incidents: RLQUERY counts those, not the hidden ones
    n = len(inst.abel("/api/now/table/incident", params={"sysparm_query": f"caller_id={inst.abel_id}"}).json()["result"])
    q = f"user_name=abel.tuter^RLQUERYincident.caller_id,={n}^ENDRLQUERY"
    assert users(inst.abel("/api/now/table/sys_user", params={"sysparm_query": q})) == {"abel.tuter"}
    # nobody.user is the caller of one incident, which abel may not read: 0 for abel
    q = "user_name=nobody.user^RLQUERYincident.caller_id,=0^ENDRLQUERY"
    assert users(inst.abel("/api/now/table/sys_user", params={"sysparm_query": q})) == {"nobody.user"}
    assert users(inst.get("/api/now/table/sys_user", params={"sysparm_query": q})) == set()


# ---- Aggregate API: display values of grouped references -----------------------------------

def groups(r):
    assert r.status_code == 200, r.text
    return {g["groupby_fields"][0]["value"]: g["groupby_fields"][0]["display_value"] for g in r.json()["result"]}


def test_grouped_reference_display_follows_the_target_acls(inst):
    params = {"sysparm_count": "true", "sysparm_group_by": "caller_id", "sysparm_display_value": "true"}
    before = groups(inst.abel("/api/now/stats/incident", params=params))
    assert before.get(inst.abel_id) == "Abel Tuter"
    # the display field of sys_user (name) becomes admin-only
    nowctl(inst, "acl", "add", "sys_user.name", "--operation", "read", "--role", "admin")
    shown = groups(inst.abel("/api/now/stats/incident", params=params))
    assert shown and all(v == "" for k, v in shown.items() if k)
    assert groups(inst.get("/api/now/stats/incident", params=params)).get(inst.abel_id) == "Abel Tuter"
    # the referenced table becomes admin-only
    params["sysparm_group_by"] = "assignment_group"
    named = {k: v for k, v in groups(inst.get("/api/now/stats/incident", params=params)).items() if k}
    assert named and all(named.values())
    nowctl(inst, "acl", "add", "sys_user_group", "--operation", "read", "--role", "admin", "--deny-unless")
    hidden = groups(inst.abel("/api/now/stats/incident", params=params))
    assert all(v == "" for k, v in hidden.items() if k)
    assert {k: v for k, v in groups(inst.get("/api/now/stats/incident", params=params)).items() if k} == named
