"""Users, roles and ACLs as ServiceNow enforces them, set up with nowctl (reference 4.1, 5, 1.5).

The ServiceNow-side steps of scenarios 2, 3 and 4 are run with nowctl against the running
instance, then checked over HTTP as the integration account.
"""
import json
import os
import subprocess

import requests

from conftest import BIN, nowctl, as_user


def err(message, detail):
    return json.dumps({"error": {"message": message, "detail": detail}, "status": "failure"},
                      separators=(",", ":"))


def allow_acl_edits(server):
    server.set_property("snowglobe.rest.allow_elevation", "true")


def test_incident_io_task_acls(fresh):
    """Scenario 2: the service account works task records once its three ACLs exist.  The
    account is given incident_manager only at the end: incident_manager contains itil (as on
    ServiceNow, issue 17), which reads and writes tasks without the three ACLs."""
    nowctl(fresh, "role", "add", "x_incident_io.api_user", "--description", "incident.io")
    nowctl(fresh, "user", "add", "incident.io", "--first", "incident", "--last", "io", "--email",
           "io@example.com", "--machine", "--password", "Io-pass-12", "--role", "x_incident_io.api_user",
           "--role", "cmdb_read", "--role", "sn_cmdb_user")
    io = as_user(fresh, "incident.io", "Io-pass-12")
    user = fresh.get("/api/now/table/sys_user", params={"user_name": "incident.io"}).json()["result"][0]
    assert user["identity_type"] == "machine" and user["web_service_access_only"] == "true"
    r = io("GET", "/api/now/table/task")
    assert r.status_code == 403
    assert r.text == err("Insufficient rights to query records", "No permission to read table 'task'")
    r = io("POST", "/api/now/table/task", json={"short_description": "follow-up"})
    assert r.status_code == 403
    assert r.text == err("Operation Failed", "ACL Exception Insert Failed due to security constraints")
    # ACLs can only be edited with security_admin in effect
    r = nowctl(fresh, "acl", "add", "task", "--operation", "read", "--role", "x_incident_io.api_user", ok=False)
    assert r.returncode == 1 and "ACL Exception Insert Failed" in r.stderr
    allow_acl_edits(fresh)
    for op in ("read", "create", "write"):
        nowctl(fresh, "acl", "add", "task", "--operation", op, "--role", "x_incident_io.api_user")
    r = io("POST", "/api/now/table/task", json={"short_description": "follow-up"})
    assert r.status_code == 201, r.text
    task = r.json()["result"]
    assert task["number"].startswith("TASK")
    r = io("PATCH", f"/api/now/table/task/{task['sys_id']}", json={"state": "3"})
    assert r.status_code == 200 and r.json()["result"]["active"] == "false"
    assert io("GET", "/api/now/table/task", params={"sysparm_limit": "5"}).status_code == 200
    r = io("DELETE", f"/api/now/table/task/{task['sys_id']}")
    assert r.status_code == 403
    assert r.text == err("Operation Failed", "ACL Exception Delete Failed due to security constraints")
    # CMDB, users and groups are readable
    assert io("GET", "/api/now/table/cmdb_ci").status_code == 200
    assert io("GET", "/api/now/table/sys_user_group").status_code == 200
    # the guide's fourth role: incidents too, through itil
    assert io("POST", "/api/now/table/incident", json={"short_description": "x"}).status_code == 403
    nowctl(fresh, "role", "grant", "incident_manager", "--user", "incident.io")
    assert io("POST", "/api/now/table/incident", json={"short_description": "x"}).status_code == 201


def test_finout_metadata_acls(fresh):
    """Scenario 3: the dictionary is invisible until the five read ACLs exist."""
    nowctl(fresh, "role", "add", "x_finout.metadata")
    nowctl(fresh, "user", "add", "finout", "--password", "Fin-pass-12", "--role", "itil",
           "--role", "x_finout.metadata")
    fin = as_user(fresh, "finout", "Fin-pass-12")
    for table in ("sys_db_object", "sys_dictionary", "sys_glide_object"):
        r = fin("GET", f"/api/now/table/{table}")
        assert r.status_code == 403, table
    assert fin("POST", "/api/now/table/incident", json={"short_description": "cost anomaly"}).status_code == 201
    allow_acl_edits(fresh)
    for name in ("sys_db_object", "sys_db_object.*", "sys_dictionary", "sys_dictionary.*", "sys_glide_object"):
        nowctl(fresh, "acl", "add", name, "--operation", "read", "--role", "x_finout.metadata")
    r = fin("GET", "/api/now/table/sys_dictionary",
            params={"sysparm_query": "name=incident^internal_type=reference", "sysparm_fields": "element,reference"})
    assert r.status_code == 200
    assert {"element": "caller_id", "reference": "sys_user"} in r.json()["result"]
    assert len(fin("GET", "/api/now/table/sys_glide_object").json()["result"]) > 30


def test_cloud_ex_machina_account(fresh):
    """Scenario 4: a web-service-only rest_service + itil account files incidents and changes."""
    nowctl(fresh, "user", "add", "cxm_integration", "--web-service-only", "--password", "Cxm-pass-12",
           "--role", "rest_service", "--role", "itil")
    cxm = as_user(fresh, "cxm_integration", "Cxm-pass-12")
    r = cxm("POST", "/api/now/table/incident", json={"short_description": "cost spike", "urgency": "1"})
    assert r.status_code == 201 and r.json()["result"]["sys_created_by"] == "cxm_integration"
    r = cxm("POST", "/api/now/table/change_request", json={"short_description": "rightsizing"})
    assert r.status_code == 201 and r.json()["result"]["number"].startswith("CHG")
    assert cxm("GET", "/api/now/table/sys_properties").status_code == 403


def test_inactive_locked_and_lockout(fresh):
    nowctl(fresh, "user", "add", "worker", "--password", "Worker-pass-1", "--role", "itil")
    worker = as_user(fresh, "worker", "Worker-pass-1")
    assert worker("GET", "/api/now/table/incident").status_code == 200
    nowctl(fresh, "user", "set", "worker", "active=false")
    assert worker("GET", "/api/now/table/incident").status_code == 401
    nowctl(fresh, "user", "set", "worker", "active=true", "locked_out=true")
    assert worker("GET", "/api/now/table/incident").status_code == 401
    nowctl(fresh, "user", "set", "worker", "locked_out=false")
    assert worker("GET", "/api/now/table/incident").status_code == 200
    wrong = as_user(fresh, "worker", "not-the-password")
    for _ in range(5):
        assert wrong("GET", "/api/now/table/incident").status_code == 401
    # glide.user.max_unlock_attempts (5) failures lock the account
    assert worker("GET", "/api/now/table/incident").status_code == 401
    user = fresh.get("/api/now/table/sys_user", params={"user_name": "worker"}).json()["result"][0]
    assert user["locked_out"] == "true" and user["failed_attempts"] == "5"


def test_passwords_never_leak(fresh):
    r = nowctl(fresh, "--json", "user", "add", "secretive", "--generate-password")
    generated = json.loads(r.stdout)["password"]
    assert len(generated) >= 20
    for params in ({}, {"sysparm_display_value": "all"}, {"sysparm_fields": "user_name,user_password"}):
        r = fresh.get("/api/now/table/sys_user", params={"user_name": "secretive", **params})
        rows = r.json()["result"]
        # returned masked, never the hash [9.1]
        masked = "********"
        if params.get("sysparm_display_value") == "all":
            masked = {"display_value": "********", "value": "********"}
        assert rows[0]["user_password"] == masked
        assert "argon2" not in r.text
    r = requests.get(fresh.url + "/api/now/table/incident", auth=("secretive", generated))
    assert r.status_code == 403  # authenticated, but no role reads incidents
    audit = fresh.get("/api/now/table/sys_audit", params={"fieldname": "user_password"}).json()["result"]
    assert all(a["newvalue"] == "" for a in audit)
    assert generated not in fresh.output()
    # user_password is written by admins only: a user_admin's write is ignored
    nowctl(fresh, "user", "add", "useradmin", "--password", "Ua-pass-123", "--role", "user_admin")
    ua = as_user(fresh, "useradmin", "Ua-pass-123")
    sid = fresh.get("/api/now/table/sys_user", params={"user_name": "secretive"}).json()["result"][0]["sys_id"]
    r = ua("PATCH", f"/api/now/table/sys_user/{sid}", json={"user_password": "Hijacked-1", "title": "x"})
    assert r.status_code == 200 and r.json()["result"]["title"] == "x"
    assert requests.get(fresh.url + "/api/now/table/sys_user", auth=("secretive", "Hijacked-1")).status_code == 401


def test_row_and_field_acls(fresh):
    abel = as_user(fresh, "abel.tuter", "Abel-pass-12")
    uid = fresh.get("/api/now/table/sys_user", params={"user_name": "abel.tuter"}).json()["result"][0]["sys_id"]
    fresh.patch(f"/api/now/table/sys_user/{uid}", json={"user_password": "Abel-pass-12"})
    # snc_internal reads only the incidents it called in; X-Total-Count stays ACL-blind
    r = abel("GET", "/api/now/table/incident", params={"sysparm_fields": "number,caller_id"})
    assert r.status_code == 200
    assert r.headers["X-Total-Count"] == "7"
    assert sorted(x["number"] for x in r.json()["result"]) == ["INC0010001", "INC0010003", "INC0010005"]
    other = fresh.get("/api/now/table/incident", params={"number": "INC0010002"}).json()["result"][0]
    r = abel("GET", f"/api/now/table/incident/{other['sys_id']}")
    assert r.status_code == 404
    assert r.text == err("No Record found", "Record doesn't exist or ACL restricts the record retrieval")
    assert abel("PATCH", f"/api/now/table/incident/{other['sys_id']}", json={"urgency": "1"}).status_code == 404
    # a field-level ACL nobody passes hides the field and refuses queries on it
    allow_acl_edits(fresh)
    nowctl(fresh, "acl", "add", "incident.description", "--operation", "read", "--role", "nobody")
    r = abel("GET", "/api/now/table/incident", params={"caller_id": uid, "sysparm_limit": "1"})
    assert "description" not in r.json()["result"][0] and "short_description" in r.json()["result"][0]
    r = abel("GET", "/api/now/table/incident", params={"sysparm_query": "descriptionLIKEx"})
    assert r.status_code == 403
    assert r.text == err("Insufficient rights to query records",
                         "Field(s) present in the query do not have permission to be read")
    # nobody blocks even admin
    assert "description" not in fresh.get("/api/now/table/incident", params={"sysparm_limit": "1"}).json()["result"][0]
    # a field ACL with a condition decides record by record, in lists and single reads
    nowctl(fresh, "acl", "add", "incident.short_description", "--operation", "read", "--role", "snc_internal",
           "--condition", "urgency=1")
    mine = {x["number"]: x["sys_id"] for x in abel("GET", "/api/now/table/incident",
                                                    params={"sysparm_fields": "number,sys_id"}).json()["result"]}
    fresh.patch(f"/api/now/table/incident/{mine['INC0010001']}", json={"urgency": "1"})
    fresh.patch(f"/api/now/table/incident/{mine['INC0010003']}", json={"urgency": "3"})
    rows = {x["number"]: x for x in abel("GET", "/api/now/table/incident").json()["result"]}
    assert "short_description" in rows["INC0010001"] and "short_description" not in rows["INC0010003"]
    one = abel("GET", f"/api/now/table/incident/{mine['INC0010003']}").json()["result"]
    assert "short_description" not in one and one["number"] == "INC0010003"
    assert "short_description" in fresh.get(f"/api/now/table/incident/{mine['INC0010003']}").json()["result"]


def test_admin_only_sys_fields(fresh):
    """glide.rest.table_api.admin_only_sys_fields: off by default, anyone who may create an
    incident may choose its sys_id; on, only admins may, and other users' sys_* values are
    ignored (the record gets its own)."""
    nowctl(fresh, "user", "add", "sysf.itil", "--password", "Sysf-pass-12", "--role", "itil")
    itil = as_user(fresh, "sysf.itil", "Sysf-pass-12")
    chosen = "a" * 31 + "1"
    r = itil("POST", "/api/now/table/incident", json={"sys_id": chosen, "short_description": "mine"})
    assert r.status_code == 201 and r.json()["result"]["sys_id"] == chosen
    fresh.set_property("glide.rest.table_api.admin_only_sys_fields", "true")
    chosen = "b" * 31 + "2"
    r = itil("POST", "/api/now/table/incident", json={"sys_id": chosen, "short_description": "mine",
                                                       "sys_created_by": "someone.else"})
    assert r.status_code == 201
    got = r.json()["result"]
    assert got["sys_id"] != chosen and got["sys_created_by"] == "sysf.itil"
    r = fresh.post("/api/now/table/incident", json={"sys_id": chosen, "short_description": "admin's"})
    assert r.status_code == 201 and r.json()["result"]["sys_id"] == chosen


def test_admin_and_elevation(fresh):
    r = fresh.get("/api/now/table/sys_security_acl")
    assert r.status_code == 403  # security_admin is not in effect without elevation
    allow_acl_edits(fresh)
    r = fresh.get("/api/now/table/sys_security_acl", headers={"X-Snowglobe-Elevate": "security_admin"})
    assert r.status_code == 200 and len(r.json()["result"]) > 20
    # elevation asks for a role: someone without it gains nothing
    nowctl(fresh, "user", "add", "plain", "--password", "Plain-pass-1", "--role", "itil")
    plain = as_user(fresh, "plain", "Plain-pass-1")
    assert plain("GET", "/api/now/table/sys_security_acl",
                 headers={"X-Snowglobe-Elevate": "security_admin"}).status_code == 403


def test_nowctl_usage_and_offline(fresh):
    r = nowctl(fresh, "role", "grant", "no_such_role", "--user", "admin", ok=False)
    assert r.returncode == 1 and "no sys_user_role 'no_such_role'" in r.stderr
    r = nowctl(fresh, "user", "add", ok=False)
    assert r.returncode == 2
    r = nowctl(fresh, "acl", "add", "incident", "--operation", "fly", ok=False)
    assert r.returncode == 2
    r = subprocess.run([os.path.join(BIN, "nowctl"), "role", "add", "x"], capture_output=True, text=True)
    assert r.returncode == 2 and "--data DIR or --instance URL" in r.stderr
    r = nowctl(fresh, "--json", "property", "get", "glide.sm.default_mode")
    assert json.loads(r.stdout)["value"] == "deny"
    r = nowctl(fresh, "table", "create", "core_company", "name=Umbrella", "customer=true")
    assert "created core_company" in r.stdout
    assert fresh.get("/api/now/table/core_company", params={"name": "Umbrella"}).json()["result"][0]["customer"] == "true"
