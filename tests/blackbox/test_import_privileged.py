"""Import transforms do not get round the privileged-record rule.

Transforms write as the system, so whoever may point a transform map at a table may write it
through an import.  Pointing one (or a field map of one) at a security table -- the role grants,
group membership, the ACLs, properties, the maps themselves -- needs security_admin in effect,
as granting an elevated role over the Table API does.
"""
import json
import os
import subprocess

import pytest

from conftest import BIN, PASSWORD, Server, as_user

ELEVATE = {"X-Snowglobe-Elevate": "security_admin"}
INSERT_FAILED = {"error": {"message": "Operation Failed",
                           "detail": "ACL Exception Insert Failed due to security constraints"},
                 "status": "failure"}
UPDATE_FAILED = {"error": {"message": "Operation Failed",
                           "detail": "ACL Exception Update Failed due to security constraints"},
                 "status": "failure"}


def offline(srv, *args):
    r = subprocess.run([os.path.join(BIN, "nowctl"), *srv.where, *args], capture_output=True, text=True)
    assert r.returncode == 0, (args, r.stdout, r.stderr)


def make(call, table, **fields):
    r = call("POST", f"/api/now/table/{table}", json=fields)
    assert r.status_code == 201, r.text
    return r.json()["result"]


@pytest.fixture(scope="module")
def srv():
    s = Server()
    offline(s, "property", "set", "snowglobe.rest.allow_elevation", "true")
    offline(s, "user", "add", "mallory", "--password", PASSWORD, "--role", "import_transformer")
    offline(s, "user", "add", "secadm", "--password", PASSWORD, "--role", "admin", "--role", "security_admin")
    admin = as_user(s, "admin", PASSWORD)
    # A staging table, made by the admin as an admin makes one.
    make(admin, "sys_db_object", name="u_imp_grant", label="Grants", super_class="sys_import_set_row")
    for col in ("u_user", "u_role", "u_text"):
        make(admin, "sys_dictionary", name="u_imp_grant", element=col, column_label=col, internal_type="string",
             max_length="100")
    yield s
    s.stop()


def holds_admin(srv, user):
    rows = srv.get("/api/now/table/sys_user_has_role",
                   params={"sysparm_query": f"user.user_name={user}^role.name=admin"}).json()["result"]
    return bool(rows)


def test_transformer_cannot_grant_itself_admin_through_an_import(srv):
    mallory = as_user(srv, "mallory", PASSWORD)
    assert not holds_admin(srv, "mallory")
    r = mallory("POST", "/api/now/table/sys_transform_map",
                json={"name": "Grant", "source_table": "u_imp_grant", "target_table": "sys_user_has_role"})
    if r.status_code == 201:
        # What the hole allowed: field maps, then one imported row makes mallory an admin.
        m = r.json()["result"]["sys_id"]
        mallory("POST", "/api/now/table/sys_transform_entry",
                json={"map": m, "source_field": "u_user", "target_field": "user", "reference_value_field": "user_name"})
        mallory("POST", "/api/now/table/sys_transform_entry",
                json={"map": m, "source_field": "u_role", "target_field": "role", "reference_value_field": "name"})
        mallory("POST", "/api/now/import/u_imp_grant", json={"u_user": "mallory", "u_role": "admin"})
    assert r.status_code == 403, r.text
    assert r.json() == INSERT_FAILED
    mallory("POST", "/api/now/import/u_imp_grant", json={"u_user": "mallory", "u_role": "admin"})
    assert not holds_admin(srv, "mallory")
    assert not srv.get("/api/now/table/sys_transform_map", params={"name": "Grant"}).json()["result"]


@pytest.mark.parametrize("target", ["sys_user_has_role", "sys_group_has_role", "sys_user_grmember",
                                    "sys_user_role", "sys_user_role_contains", "sys_security_acl",
                                    "sys_security_acl_role", "sys_properties", "sys_transform_map",
                                    "sys_transform_entry", "SYS_USER_HAS_ROLE"])
def test_guarded_targets_need_security_admin_in_effect(srv, target):
    for who, headers in (("mallory", None), ("admin", None), ("secadm", None)):
        call = as_user(srv, who, PASSWORD, headers)
        r = call("POST", "/api/now/table/sys_transform_map",
                 json={"name": f"x-{target}", "source_table": "u_imp_grant", "target_table": target})
        assert r.status_code == 403 and r.json() == INSERT_FAILED, (who, r.text)
    secadm = as_user(srv, "secadm", PASSWORD, ELEVATE)
    m = make(secadm, "sys_transform_map", name=f"x-{target}", source_table="u_imp_grant", target_table=target)
    # A field map of it, or a change to it, needs the same.
    for who in ("mallory", "admin"):
        call = as_user(srv, who, PASSWORD)
        r = call("POST", "/api/now/table/sys_transform_entry",
                 json={"map": m["sys_id"], "source_field": "u_text", "target_field": "name"})
        assert r.status_code == 403 and r.json() == INSERT_FAILED, (who, r.text)
        r = call("PATCH", f"/api/now/table/sys_transform_map/{m['sys_id']}", json={"active": "false"})
        assert r.status_code == 403, (who, r.text)
    e = make(secadm, "sys_transform_entry", map=m["sys_id"], source_field="u_text", target_field="name")
    r = as_user(srv, "admin", PASSWORD)("PATCH", f"/api/now/table/sys_transform_entry/{e['sys_id']}",
                                        json={"source_field": "u_user"})
    assert r.status_code == 403, r.text
    assert secadm("DELETE", f"/api/now/table/sys_transform_map/{m['sys_id']}").status_code == 204


def test_ordinary_maps_stay_the_transformers(srv):
    mallory = as_user(srv, "mallory", PASSWORD)
    m = make(mallory, "sys_transform_map", name="Notes", source_table="u_imp_grant", target_table="incident")
    e = make(mallory, "sys_transform_entry", map=m["sys_id"], source_field="u_text", target_field="short_description")
    assert mallory("PATCH", f"/api/now/table/sys_transform_entry/{e['sys_id']}",
                   json={"source_field": "u_user"}).status_code == 200
    # Turning it onto a guarded table is refused, and so is moving a field map onto a guarded map.
    r = mallory("PATCH", f"/api/now/table/sys_transform_map/{m['sys_id']}", json={"target_table": "sys_user_has_role"})
    assert r.status_code == 403 and r.json() == UPDATE_FAILED, r.text
    got = srv.get(f"/api/now/table/sys_transform_map/{m['sys_id']}").json()["result"]
    assert got["target_table"] == "incident"
    secadm = as_user(srv, "secadm", PASSWORD, ELEVATE)
    g = make(secadm, "sys_transform_map", name="Guarded", source_table="u_imp_grant", target_table="sys_user_grmember")
    for ref in (g["sys_id"], "Guarded", {"value": g["sys_id"]}):
        r = mallory("PATCH", f"/api/now/table/sys_transform_entry/{e['sys_id']}", json={"map": ref})
        assert r.status_code == 403 and r.json() == UPDATE_FAILED, (ref, r.text)
    assert srv.get(f"/api/now/table/sys_transform_entry/{e['sys_id']}").json()["result"]["map"]["value"] == m["sys_id"]
    # The map still works for what it was made for.
    r = mallory("POST", "/api/now/import/u_imp_grant", json={"u_user": "kept", "u_text": "from an import"})
    assert r.status_code == 201, r.text
    assert json.dumps(r.json()["result"][0]["status"]) == '"inserted"', r.text


def test_transformer_cannot_set_a_password_through_an_import(srv):
    """A map onto sys_user coalescing on user_name with a field map onto user_password would
    let anyone who may load rows set admin's password; field maps onto secret fields need
    security_admin in effect, however the map is reached."""
    mallory = as_user(srv, "mallory", PASSWORD)
    m = make(mallory, "sys_transform_map", name="Users", source_table="u_imp_grant", target_table="sys_user")
    make(mallory, "sys_transform_entry", map=m["sys_id"], source_field="u_user", target_field="user_name",
         coalesce="true")
    for fields in ({"map": m["sys_id"], "target_field": "user_password"},
                   {"map": "Users", "target_field": "user_password"},
                   {"map": m["sys_id"], "target_table": "sys_user", "target_field": "user_password"}):
        r = mallory("POST", "/api/now/table/sys_transform_entry", json={"source_field": "u_text", **fields})
        assert r.status_code == 403 and r.json() == INSERT_FAILED, (fields, r.text)
    # A name that is no field (field names are exact) is taken, and sets nothing (below).
    make(mallory, "sys_transform_entry", map=m["sys_id"], source_field="u_text", target_field="USER_PASSWORD")
    # Nor by turning an innocent field map into one.
    e = make(mallory, "sys_transform_entry", map=m["sys_id"], source_field="u_text", target_field="email")
    r = mallory("PATCH", f"/api/now/table/sys_transform_entry/{e['sys_id']}", json={"target_field": "user_password"})
    assert r.status_code == 403 and r.json() == UPDATE_FAILED, r.text
    r = mallory("POST", "/api/now/import/u_imp_grant", json={"u_user": "admin", "u_text": "Taken-over-123"})
    assert r.status_code == 201, r.text
    assert as_user(srv, "admin", "Taken-over-123")("GET", "/api/now/table/incident").status_code == 401
    assert as_user(srv, "admin", PASSWORD)("GET", "/api/now/table/incident?sysparm_limit=1").status_code == 200
    # The OAuth applications are guarded as the security tables are.
    r = mallory("POST", "/api/now/table/sys_transform_map",
                json={"name": "Apps", "source_table": "u_imp_grant", "target_table": "oauth_entity"})
    assert r.status_code == 403 and r.json() == INSERT_FAILED, r.text
