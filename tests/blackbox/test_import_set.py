"""The Import Set API: staging tables, transform maps, coalesce, statuses, shapes, rights.

A staging table is made the way an admin makes one: a sys_db_object row extending
sys_import_set_row and sys_dictionary rows for its columns, over the Table API.
"""
import re

import pytest
import requests

from conftest import PASSWORD, Server, as_user, nowctl

ID = re.compile(r"^[0-9a-f]{32}$")


def err(message, detail):
    return {"error": {"message": message, "detail": detail}, "status": "failure"}


def make(srv, table, **fields):
    r = srv.post(f"/api/now/table/{table}", json=fields)
    assert r.status_code == 201, r.text
    return r.json()["result"]


def staging(srv, name, columns):
    make(srv, "sys_db_object", name=name, label=name, super_class="sys_import_set_row")
    for col, label in columns:
        make(srv, "sys_dictionary", name=name, element=col, column_label=label, internal_type="string",
             max_length="200")


@pytest.fixture(scope="module")
def srv():
    s = Server()
    staging(s, "u_imp_user", [("u_user_id", "User ID"), ("u_first", "First name"), ("u_last", "Last name"),
                              ("u_email", "Email"), ("u_manager", "Manager"), ("u_note", "Note")])
    m = make(s, "sys_transform_map", name="User", source_table="u_imp_user", target_table="sys_user")
    for src, dst, extra in (("u_user_id", "user_name", {"coalesce": "true"}), ("u_first", "first_name", {}),
                            ("u_last", "last_name", {}), ("u_email", "email", {}),
                            ("u_manager", "manager", {"reference_value_field": "user_name"})):
        make(s, "sys_transform_entry", map=m["sys_id"], source_field=src, target_field=dst, **extra)
    staging(s, "u_imp_inc", [("u_ref", "Reference"), ("u_short", "Short"), ("u_caller", "Caller"),
                             ("u_state", "State"), ("u_opened", "Opened"), ("u_group", "Group")])
    m = make(s, "sys_transform_map", name="Incident", source_table="u_imp_inc", target_table="incident")
    for src, dst, extra in (("u_ref", "correlation_id", {"coalesce": "true"}), ("u_short", "short_description", {}),
                            ("u_caller", "caller_id", {}), ("u_state", "state", {}),
                            ("u_opened", "opened_at", {"date_format": "dd/MM/yyyy HH:mm"}),
                            ("u_group", "assignment_group", {"choice_action": "ignore"})):
        make(s, "sys_transform_entry", map=m["sys_id"], source_field=src, target_field=dst, **extra)
    yield s
    s.stop()


def post(srv, table, body, **kw):
    return srv.post(f"/api/now/import/{table}", json=body, **kw)


def test_insert_shape_and_get(srv):
    r = post(srv, "u_imp_user", {"u_user_id": "john.public", "u_first": "John", "u_last": "Public",
                                 "u_email": "john.public@example.com"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert list(body) == ["import_set", "staging_table", "result"]
    assert re.match(r"^ISET\d{7}$", body["import_set"])
    assert body["staging_table"] == "u_imp_user"
    [res] = body["result"]
    assert list(res) == ["transform_map", "table", "display_name", "display_value", "record_link", "status",
                         "sys_id"]
    assert res["transform_map"] == "User" and res["table"] == "sys_user" and res["status"] == "inserted"
    assert res["display_name"] == "name" and res["display_value"] == "John Public"
    assert ID.match(res["sys_id"])
    assert res["record_link"] == f"{srv.url}/api/now/table/sys_user/{res['sys_id']}"
    user = srv.get(f"/api/now/table/sys_user/{res['sys_id']}").json()["result"]
    assert user["user_name"] == "john.public" and user["email"] == "john.public@example.com"
    # The staging row holds the outcome.
    rows = srv.get("/api/now/table/u_imp_user", params={"u_user_id": "john.public"}).json()["result"]
    assert len(rows) == 1
    row = rows[0]
    assert row["sys_import_state"] == "inserted" and row["sys_target_sys_id"] == res["sys_id"]
    assert row["sys_target_table"] == "sys_user" and row["sys_class_name"] == "u_imp_user"
    # GET by the staging row's sys_id: the same shape.
    g = srv.get(f"/api/now/import/u_imp_user/{row['sys_id']}")
    assert g.status_code == 200 and g.json() == body
    g = srv.get(f"/api/now/v1/import/u_imp_user/{row['sys_id']}")
    assert g.status_code == 200 and g.json() == body
    # A second single POST joins the same (synchronous, loading) import set.
    r2 = post(srv, "u_imp_user", {"u_user_id": "jane.roe", "u_first": "Jane", "u_last": "Roe"})
    assert r2.json()["import_set"] == body["import_set"]


def test_coalesce_update_ignored_and_reference(srv):
    r = post(srv, "u_imp_user", {"u_user_id": "ann.boss", "u_first": "Ann", "u_last": "Boss"})
    boss = r.json()["result"][0]["sys_id"]
    r = post(srv, "u_imp_user", {"u_user_id": "bob.worker", "u_first": "Bob", "u_last": "Worker",
                                 "u_manager": "ann.boss"})
    res = r.json()["result"][0]
    assert res["status"] == "inserted"
    bob = res["sys_id"]
    assert srv.get(f"/api/now/table/sys_user/{bob}").json()["result"]["manager"]["value"] == boss
    # Same coalesce value, a change: updated, same record.
    r = post(srv, "u_imp_user", {"u_user_id": "bob.worker", "u_email": "bob@example.com"})
    res = r.json()["result"][0]
    assert res["status"] == "updated" and res["sys_id"] == bob, r.text
    assert srv.get(f"/api/now/table/sys_user/{bob}").json()["result"]["email"] == "bob@example.com"
    # Nothing changes: ignored, with the platform's comment.
    r = post(srv, "u_imp_user", {"u_user_id": "bob.worker", "u_email": "bob@example.com"})
    res = r.json()["result"][0]
    assert res["status"] == "ignored" and res["sys_id"] == bob
    assert res["status_message"] == "No field values changed"
    assert list(res)[-1] == "status_message"
    # Empty values do not overwrite (copy_empty_fields false); only one bob exists.
    post(srv, "u_imp_user", {"u_user_id": "bob.worker", "u_email": ""})
    assert srv.get(f"/api/now/table/sys_user/{bob}").json()["result"]["email"] == "bob@example.com"
    users = srv.get("/api/now/table/sys_user", params={"user_name": "bob.worker"}).json()["result"]
    assert len(users) == 1
    # Coalesce is case-insensitive by default: the same record, its value as imported.
    r = post(srv, "u_imp_user", {"u_user_id": "BOB.WORKER"})
    assert r.json()["result"][0]["sys_id"] == bob and r.json()["result"][0]["status"] == "updated"
    # A reference value no record has: choice_action create (the default) makes one.
    r = post(srv, "u_imp_user", {"u_user_id": "carl.new", "u_first": "Carl", "u_manager": "new.manager"})
    mgr = srv.get(f"/api/now/table/sys_user/{r.json()['result'][0]['sys_id']}").json()["result"]["manager"]
    created = srv.get(f"/api/now/table/sys_user/{mgr['value']}").json()["result"]
    assert created["user_name"] == "new.manager"


def test_skipped_without_coalesce_value(srv):
    r = post(srv, "u_imp_user", {"u_first": "Nobody"})
    res = r.json()["result"][0]
    assert r.status_code == 201 and res["status"] == "skipped" and res["sys_id"] == ""
    assert "status_message" in res


def test_incident_reference_choice_date_and_error(srv):
    admin = srv.get("/api/now/table/sys_user", params={"user_name": "admin"}).json()["result"][0]
    r = post(srv, "u_imp_inc", {"u_ref": "EXT-1", "u_short": "Disk full", "u_caller": admin["name"],
                                "u_state": "In Progress", "u_opened": "02/03/2024 10:30",
                                "u_group": "no such group"})
    res = r.json()["result"][0]
    assert res["status"] == "inserted" and res["display_name"] == "number", r.text
    assert res["display_value"].startswith("INC")
    inc = srv.get(f"/api/now/table/incident/{res['sys_id']}").json()["result"]
    assert inc["caller_id"]["value"] == admin["sys_id"]
    assert inc["state"] == "2" and inc["opened_at"] == "2024-03-02 10:30:00"
    assert inc["assignment_group"] == ""  # ignored: no group made
    assert not srv.get("/api/now/table/sys_user_group", params={"name": "no such group"}).json()["result"]
    # A date that does not fit date_format: error, nothing written, the row says why.
    r = post(srv, "u_imp_inc", {"u_ref": "EXT-2", "u_short": "Bad date", "u_opened": "2024-03-02"})
    res = r.json()["result"][0]
    assert r.status_code == 201 and res["status"] == "error" and "error_message" in res
    assert not srv.get("/api/now/table/incident", params={"correlation_id": "EXT-2"}).json()["result"]
    # A write the model refuses (resolving without a resolution code): error, the target
    # untouched, the staging row stored alone with the reason.
    r = post(srv, "u_imp_inc", {"u_ref": "EXT-1", "u_state": "Resolved"})
    res = r.json()["result"][0]
    assert res["status"] == "error", r.text
    assert "mandatory" in res["error_message"]
    assert srv.get(f"/api/now/table/incident/{inc['sys_id']}").json()["result"]["state"] == "2"
    rows = srv.get("/api/now/table/u_imp_inc", params={"u_state": "Resolved"}).json()["result"]
    assert len(rows) == 1 and rows[0]["sys_import_state"] == "error" and rows[0]["sys_row_error"]
    g = srv.get(f"/api/now/import/u_imp_inc/{rows[0]['sys_id']}").json()
    assert g["result"][0]["status"] == "error" and g["result"][0]["error_message"] == res["error_message"]


def test_non_string_values(srv):
    r = post(srv, "u_imp_user", {"u_user_id": "dan.types", "u_note": {"a": 1, "b": [True, None]}})
    assert r.status_code == 201
    row = srv.get("/api/now/table/u_imp_user", params={"u_user_id": "dan.types"}).json()["result"][0]
    assert row["u_note"] == "{a=1, b=[true, ]}"


def test_insert_multiple(srv):
    r = srv.post("/api/now/import/u_imp_user/insertMultiple",
                 json={"records": [{"User ID": "eve.one", "First name": "Eve"},
                                   {"u_user_id": "eve.two", "u_first": "Eve2"}]})
    assert r.status_code == 201, r.text
    body = r.json()
    assert list(body) == ["import_set_id", "multi_import_set_id"]
    assert ID.match(body["import_set_id"]) and ID.match(body["multi_import_set_id"])
    iset = srv.get(f"/api/now/table/sys_import_set/{body['import_set_id']}").json()["result"]
    assert iset["state"] == "processed" and iset["table_name"] == "u_imp_user"
    rows = srv.get("/api/now/table/u_imp_user",
                   params={"sys_import_set": body["import_set_id"], "sysparm_query": "ORDERBYsys_import_row"}
                   ).json()["result"]
    assert [x["u_user_id"] for x in rows] == ["eve.one", "eve.two"]
    assert all(x["sys_import_state"] == "inserted" for x in rows)
    # Into the same multi import set.
    r = srv.post("/api/now/import/u_imp_user/insertMultiple",
                 params={"multi_import_set_id": body["multi_import_set_id"]},
                 json={"records": [{"u_user_id": "eve.three"}]})
    assert r.status_code == 201 and r.json()["multi_import_set_id"] == body["multi_import_set_id"]
    assert r.json()["import_set_id"] != body["import_set_id"]
    r = srv.post("/api/now/v1/import/u_imp_user/insertMultiple",
                 params={"multi_import_set_id": "0" * 32}, json={"records": []})
    assert r.status_code == 400
    for bad in ({"records": {}}, {"rows": []}, {"records": [1]}, [1]):
        r = srv.post("/api/now/import/u_imp_user/insertMultiple", json=bad)
        assert r.status_code == 400, bad


def test_errors(srv):
    r = post(srv, "u_no_such_table", {"a": "b"})
    assert r.status_code == 400 and r.json() == err("Invalid table u_no_such_table", None)
    r = post(srv, "incident", {"short_description": "x"})
    assert r.status_code == 400 and r.json() == err("Invalid table incident", None)
    r = post(srv, "sys_import_set_row", {})
    assert r.status_code == 400
    r = srv.post("/api/now/import/u_imp_user", data="{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["message"] == "Exception while reading request"
    r = srv.post("/api/now/import/u_imp_user", data="[1, 2]", headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    r = srv.get(f"/api/now/import/u_imp_user/{'0' * 32}")
    assert r.status_code == 404
    r = srv.get("/api/now/import/incident/" + "0" * 32)
    assert r.status_code == 400
    r = requests.post(srv.url + "/api/now/import/u_imp_user", json={"u_user_id": "x"})
    assert r.status_code == 401


def test_rights(srv):
    nowctl(srv, "user", "add", "plain.user", "--password", PASSWORD)
    nowctl(srv, "user", "add", "loader", "--password", PASSWORD, "--role", "import_set_loader")
    plain = as_user(srv, "plain.user", PASSWORD)
    r = plain("POST", "/api/now/import/u_imp_user", json={"u_user_id": "mallory"})
    assert r.status_code == 403
    assert r.json() == err("Operation Failed", "ACL Exception Insert Failed due to security constraints")
    r = plain("POST", "/api/now/import/u_imp_user/insertMultiple", json={"records": [{"u_user_id": "m"}]})
    assert r.status_code == 403
    assert not srv.get("/api/now/table/u_imp_user", params={"u_user_id": "mallory"}).json()["result"]
    # import_set_loader may load; the transform writes sys_user, which the loader may not
    # write through the Table API: transforms run as the system.
    loader = as_user(srv, "loader", PASSWORD)
    assert loader("POST", "/api/now/table/sys_user", json={"user_name": "direct"}).status_code == 403
    r = loader("POST", "/api/now/import/u_imp_user", json={"u_user_id": "via.import", "u_first": "Via"})
    assert r.status_code == 201 and r.json()["result"][0]["status"] == "inserted", r.text
    row = srv.get("/api/now/table/u_imp_user", params={"u_user_id": "via.import"}).json()["result"][0]
    assert loader("GET", f"/api/now/import/u_imp_user/{row['sys_id']}").status_code == 200
    assert plain("GET", f"/api/now/import/u_imp_user/{row['sys_id']}").status_code == 404
    # Transform maps are the transformer's and the admin's.
    assert loader("POST", "/api/now/table/sys_transform_map",
                  json={"name": "x", "source_table": "u_imp_user", "target_table": "sys_user"}).status_code == 403


def test_no_active_map_leaves_the_row_pending(srv):
    staging(srv, "u_imp_nomap", [("u_x", "X")])
    m = make(srv, "sys_transform_map", name="Off", source_table="u_imp_nomap", target_table="incident",
             active="false")
    make(srv, "sys_transform_entry", map=m["sys_id"], source_field="u_x", target_field="short_description")
    r = post(srv, "u_imp_nomap", {"u_x": "kept"})
    assert r.status_code == 201 and r.json()["result"] == [], r.text
    row = srv.get("/api/now/table/u_imp_nomap", params={"u_x": "kept"}).json()["result"][0]
    assert row["sys_import_state"] == "pending"
    assert not srv.get("/api/now/table/incident", params={"short_description": "kept"}).json()["result"]
    g = srv.get(f"/api/now/import/u_imp_nomap/{row['sys_id']}")
    assert g.status_code == 200 and g.json()["result"] == []
