"""nowctl app install: an application folder (docs/apps.md) installed in one transaction,
offline on the data directory and online through POST /api/now/snowglobe/app, ordered by
dependency, updated in place on a second install, all or nothing, errors naming the file and
record, and online under the caller's rights (admin; security_admin in effect for ACLs)."""
import json
import os
import shutil
import tempfile

import pytest
import requests

from conftest import PASSWORD, Server, as_user, nowctl

APP = os.path.join(os.path.dirname(__file__), "../../demo/apps/incident_io")
ALERT = "x_inio_alert"


def copy_app():
    d = tempfile.mkdtemp(prefix="sg-app-")
    dst = os.path.join(d, "app")
    shutil.copytree(APP, dst)
    return dst


def report(r):
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def installed(s):
    """What of the example app the instance has, over REST as the admin."""
    r = s.get(f"/api/now/table/{ALERT}")
    assert r.status_code == 200, r.text
    alerts = r.json()["result"]
    si = s.get("/api/now/table/sys_script_include", params={"name": "IncidentIoClient"}).json()["result"]
    br = s.get("/api/now/table/sys_script", params={"collection": "incident"}).json()["result"]
    op = s.get("/api/now/table/sys_ws_operation", params={"sysparm_display_value": "true"}).json()["result"]
    return alerts, si, br, op


@pytest.fixture
def srv():
    s = Server(demo=False)
    yield s
    s.stop()


def test_offline_install_then_reinstall_updates_in_place(srv):
    first = report(nowctl(srv, "--json", "app", "install", APP, offline=True))
    assert first["name"] == "incident.io (example)"
    assert first["inserted"] == 23 and first["updated"] == 0
    assert first["tables"]["sys_db_object"] == {"inserted": 1, "updated": 0}
    assert first["tables"][ALERT] == {"inserted": 1, "updated": 0}
    alerts, si, br, op = installed(srv)
    assert [a["title"] for a in alerts] == ["Sample alert"]
    assert alerts[0]["sys_id"] == "d0f77cb6d96d0e7ef2b66a7ba6674cee"  # the file's sys_id kept
    assert si[0]["api_name"] == "x_inio.IncidentIoClient" and "Class.create()" in si[0]["script"]
    assert br[0]["when"] == "after" and br[0]["action_update"] == "true"
    assert br[0]["filter_condition"] == "stateVALCHANGES"
    assert op[0]["web_service_definition"]["display_value"] == "incident.io webhook"
    # the new field's choices and reference work like any other
    r = srv.get(f"/api/now/table/{ALERT}", params={"sysparm_display_value": "true"})
    assert r.json()["result"][0]["status"] == "Acknowledged"

    second = report(nowctl(srv, "--json", "app", "install", APP, offline=True))
    assert second["inserted"] == 0 and second["updated"] == 23
    assert installed(srv)[0] == alerts  # nothing duplicated
    r = srv.get("/api/now/table/sys_db_object", params={"name": ALERT})
    assert len(r.json()["result"]) == 1


def test_plain_output_names_tables(srv):
    r = nowctl(srv, "app", "install", APP, offline=True)
    assert "x_inio_alert" in r.stdout and "installed incident.io (example): 23 inserted, 0 updated" in r.stdout


def test_role_and_acls_of_the_app_apply(srv):
    nowctl(srv, "app", "install", APP, offline=True)
    nowctl(srv, "user", "add", "inio.bot", "--password", "Inio-bot-pass-1", "--role", "x_inio.integration")
    nowctl(srv, "user", "add", "inio.itil", "--password", "Inio-itil-pass-1", "--role", "itil")
    bot = as_user(srv, "inio.bot", "Inio-bot-pass-1")
    r = bot("POST", f"/api/now/table/{ALERT}", json={"title": "from the bot", "status": "triggered"})
    assert r.status_code == 201, r.text
    assert len(bot("GET", f"/api/now/table/{ALERT}").json()["result"]) == 2
    itil = as_user(srv, "inio.itil", "Inio-itil-pass-1")
    assert itil("GET", f"/api/now/table/{ALERT}").status_code == 403


def test_all_or_nothing_error_names_file_and_record(srv):
    app = copy_app()
    with open(os.path.join(app, "40-broken.json"), "w") as f:
        json.dump({"records": {"no_such_table": [{"sys_id": "0123456789abcdef0123456789abcdef"}]}}, f)
    r = nowctl(srv, "app", "install", app, offline=True, ok=False)
    assert r.returncode == 1
    assert "40-broken.json" in r.stderr and "no_such_table" in r.stderr
    assert "0123456789abcdef0123456789abcdef" in r.stderr
    # nothing of it was kept: not the table, not its fields, not the role
    assert srv.get(f"/api/now/table/{ALERT}").status_code == 400
    assert srv.get("/api/now/table/sys_user_role", params={"name": "x_inio.integration"}).json()["result"] == []
    assert srv.get("/api/now/table/sys_dictionary", params={"name": ALERT}).json()["result"] == []
    shutil.rmtree(os.path.dirname(app))


@pytest.mark.parametrize("content,message", [
    ({"records": {"sys_script": [{"name": "no id"}]}}, "sys_script record 1 has no sys_id"),
    ({"records": {"sys_script": {"sys_id": "x"}}}, "the records of sys_script are not a list"),
    ({"tables": []}, "no \"records\" object"),
    ({"records": {}, "extra": 1}, "unknown key \"extra\""),
    ({"records": {"sys_script": [{"sys_id": "0123456789abcdef0123456789abcdef", "script": {"a": 1}}]}},
     "field script is not a value"),
])
def test_malformed_files_are_refused(srv, content, message):
    app = copy_app()
    with open(os.path.join(app, "50-bad.json"), "w") as f:
        json.dump(content, f)
    r = nowctl(srv, "app", "install", app, offline=True, ok=False)
    assert r.returncode == 1 and "50-bad.json" in r.stderr and message in r.stderr, r.stderr
    assert srv.get("/api/now/table/sys_user_role", params={"name": "x_inio.integration"}).json()["result"] == []
    shutil.rmtree(os.path.dirname(app))


def test_not_json_and_twice_given(srv):
    app = copy_app()
    with open(os.path.join(app, "60-bad.json"), "w") as f:
        f.write("{not json")
    r = nowctl(srv, "app", "install", app, offline=True, ok=False)
    assert r.returncode == 1 and "60-bad.json" in r.stderr
    os.remove(os.path.join(app, "60-bad.json"))
    shutil.copy(os.path.join(app, "30-scripts.json"), os.path.join(app, "31-again.json"))
    r = nowctl(srv, "app", "install", app, offline=True, ok=False)
    assert r.returncode == 1 and "is given twice" in r.stderr and "31-again.json" in r.stderr
    shutil.rmtree(os.path.dirname(app))
    r = nowctl(srv, "app", "install", "/nonexistent/app", offline=True, ok=False)
    assert r.returncode == 1
    assert nowctl(srv, "app", "install", offline=True, ok=False).returncode == 2


def test_online_needs_security_admin_in_effect_for_acls(srv):
    # without elevation an admin may not write ACLs over REST: the whole app is refused
    r = nowctl(srv, "app", "install", APP, ok=False)
    assert r.returncode == 1 and "HTTP 403" in r.stderr and "20-security.json" in r.stderr, r.stderr
    assert srv.get(f"/api/now/table/{ALERT}").status_code == 400
    nowctl(srv, "property", "set", "snowglobe.rest.allow_elevation", "true", offline=True)
    first = report(nowctl(srv, "--json", "app", "install", APP))
    assert first["inserted"] == 23
    second = report(nowctl(srv, "--json", "app", "install", APP))
    assert second["updated"] == 23 and second["inserted"] == 0
    assert len(installed(srv)[0]) == 1


def test_online_without_acls_and_for_non_admins(srv):
    app = copy_app()
    os.remove(os.path.join(app, "20-security.json"))
    body = {"files": {}}
    for name in sorted(os.listdir(app)):
        with open(os.path.join(app, name)) as f:
            if name == "app.json":
                body["manifest"] = json.load(f)
            else:
                body["files"][name] = json.load(f)
    # an admin needs no elevation for an app without ACLs
    r = srv.post("/api/now/snowglobe/app", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["result"]["inserted"] == 15  # 23 less the role, ACLs and property
    nowctl(srv, "user", "add", "app.itil", "--password", "App-itil-pass-1", "--role", "itil")
    itil = as_user(srv, "app.itil", "App-itil-pass-1")
    r = itil("POST", "/api/now/snowglobe/app", json=body)
    assert r.status_code == 403
    assert r.json()["status"] == "failure" and r.json()["error"]["message"]
    # ServiceNow's error shape for a malformed application
    r = srv.post("/api/now/snowglobe/app", json={"files": {"a.json": {"records": {"sys_script": [{}]}}}})
    assert r.status_code == 400
    err = r.json()["error"]
    assert r.json()["status"] == "failure" and "a.json" in err["detail"] and "sys_id" in err["detail"]
    r = srv.post("/api/now/snowglobe/app", json=[1, 2])
    assert r.status_code == 400
    r = srv.post("/api/now/snowglobe/app", data="{", headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    r = requests.post(srv.url + "/api/now/snowglobe/app", json=body)
    assert r.status_code == 401
    shutil.rmtree(os.path.dirname(app))


def test_tables_extend_in_dependency_order(srv):
    d = tempfile.mkdtemp(prefix="sg-app-")
    # the child table's file sorts first; its parent is in the same app
    with open(os.path.join(d, "a-child.json"), "w") as f:
        json.dump({"records": {
            "sys_db_object": [{"sys_id": "c" * 32, "name": "x_t_child", "label": "Child", "super_class": "x_t_base"}],
            "sys_dictionary": [{"sys_id": "d" * 32, "name": "x_t_child", "element": "extra",
                                "internal_type": "string", "max_length": "40", "column_label": "Extra"}],
            "x_t_child": [{"sys_id": "e" * 32, "name": "one", "extra": "yes"}]}}, f)
    with open(os.path.join(d, "b-base.json"), "w") as f:
        json.dump({"records": {
            "sys_db_object": [{"sys_id": "b" * 32, "name": "x_t_base", "label": "Base", "is_extendable": "true"}],
            "sys_dictionary": [{"sys_id": "f" * 32, "name": "x_t_base", "element": "name",
                                "internal_type": "string", "max_length": "80", "column_label": "Name"}]}}, f)
    out = report(nowctl(srv, "--json", "app", "install", d, offline=True))
    assert out["inserted"] == 5
    r = srv.get("/api/now/table/x_t_base")
    rows = r.json()["result"]
    assert [(x["name"], x["sys_class_name"]) for x in rows] == [("one", "x_t_child")]
    assert srv.get("/api/now/table/x_t_child").json()["result"][0]["extra"] == "yes"
    shutil.rmtree(d)
