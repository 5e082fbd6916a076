"""Scripted REST APIs: sys_ws_definition / sys_ws_version / sys_ws_operation records made
through the Table API and called over REST: path parameters and custom statuses, request
bodies written through GlideRecord, sn_ws_err errors, XML by Accept, the "requires
authentication" and "requires ACL authorization" flags, produces/consumes, versions, and
the built-in answers for unknown paths kept as they were."""
import os
import time
import xml.etree.ElementTree as ET

import pytest
import requests

from conftest import PASSWORD, Server, as_user, nowctl

ELEVATE = {"X-Snowglobe-Elevate": "security_admin"}
BASE = "/api/x_snow/demo"
APP = os.path.join(os.path.dirname(__file__), "../../demo/apps/incident_io")

OPS = {
    # name: (method, relative path, script, extra fields)
    "get item": ("GET", "/items/{id}", """(function process(request, response) {
        response.setStatus(202);
        response.setHeader('X-Demo', 'yes');
        response.setBody({id: request.pathParams.id, q: request.queryParams.q,
                          accept: request.getHeader('Accept'), user: gs.getUserName(),
                          qs: request.queryString});
    })(request, response);""", {}),
    "item detail": ("GET", "/items/{id}/detail", """
        response.setBody({detail: request.pathParams.id});""", {}),
    "item literal": ("GET", "/items/special", """response.setBody({special: true});""", {}),
    "create item": ("POST", "/items", """(function process(request, response) {
        var data = request.body.data;
        var gr = new GlideRecord('incident');
        gr.initialize();
        gr.short_description = data.title;
        var id = gr.insert();
        var again = new GlideRecord('incident');
        again.get(id);
        response.setStatus(201);
        response.setBody({sys_id: id, number: again.number, raw: request.body.dataString.length});
    })(request, response);""", {}),
    "bad": ("GET", "/bad", "response.setError(new sn_ws_err.BadRequestError('bad thing'));", {}),
    "thrown": ("GET", "/missing", "throw new sn_ws_err.NotFoundError('no such thing');", {}),
    "custom": ("GET", "/custom", """var e = new sn_ws_err.ServiceError();
        e.setStatus(418); e.setMessage('teapot'); e.setDetail('short and stout');
        response.setError(e);""", {}),
    "boom": ("GET", "/boom", "var x = 1;\nthrow new Error('kaboom');", {}),
    "public": ("GET", "/public", "response.setBody({user: gs.getUserName(), roles: gs.hasRole('admin')});",
               {"requires_authentication": "false"}),
    "private": ("GET", "/private", "response.setBody({ok: 1});", {}),
    "stream raw": ("GET", "/stream", "response.getStreamWriter().writeString('abc');", {}),
    "stream typed": ("GET", "/stream2", """response.setContentType('text/plain');
        var w = response.getStreamWriter(); w.writeString('hello '); w.writeString('world');""", {}),
    "loop": ("GET", "/loop", "while (true) {}", {}),
    "json only": ("GET", "/jsononly", "response.setBody({a: 1});",
                  {"produces_customized": "true", "produces": "application/json"}),
}


def op_record(def_id, name, method, path, script, extra):
    rec = {"web_service_definition": def_id, "name": name, "http_method": method,
           "relative_path": path, "operation_script": script,
           "requires_acl_authorization": "false"}
    rec.update(extra)
    return rec


@pytest.fixture(scope="module")
def srv():
    s = Server()
    nowctl(s, "property", "set", "snowglobe.rest.allow_elevation", "true", offline=True)
    nowctl(s, "user", "add", "ws.itil", "--password", "Ws-itil-pass-12", "--role", "itil")
    nowctl(s, "user", "add", "ws.nobody", "--password", "Ws-nobody-pass-12")
    r = s.post("/api/now/table/sys_ws_definition",
               json={"name": "Demo", "service_id": "demo", "namespace": "x_snow"})
    assert r.status_code == 201, r.text
    s.def_id = r.json()["result"]["sys_id"]
    for name, (method, path, script, extra) in OPS.items():
        r = s.post("/api/now/table/sys_ws_operation",
                   json=op_record(s.def_id, name, method, path, script, extra))
        assert r.status_code == 201, r.text
    yield s
    s.stop()


def test_path_parameters_custom_status_and_headers(srv):
    r = srv.get(BASE + "/items/42", params={"q": ["a", "b"]})
    assert r.status_code == 202, r.text
    assert r.headers["X-Demo"] == "yes"
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()["result"]
    assert body["id"] == "42" and body["q"] == ["a", "b"]  # query values as arrays
    assert body["user"] == "admin" and body["qs"] == "q=a&q=b"
    # literal segments win over parameters; deeper paths find their own operation
    assert srv.get(BASE + "/items/special").json() == {"result": {"special": True}}
    assert srv.get(BASE + "/items/9/detail").json() == {"result": {"detail": "9"}}


def test_post_reads_the_body_and_writes_through_gliderecord(srv):
    r = srv.post(BASE + "/items", json={"title": "from a scripted REST API"})
    assert r.status_code == 201, r.text
    out = r.json()["result"]
    assert out["number"].startswith("INC") and out["raw"] > 10
    rec = srv.get(f"/api/now/table/incident/{out['sys_id']}").json()["result"]
    assert rec["short_description"] == "from a scripted REST API"
    assert rec["sys_created_by"] == "admin"


def test_errors_in_servicenow_envelope(srv):
    r = srv.get(BASE + "/bad")
    assert r.status_code == 400
    assert r.json() == {"error": {"message": "bad thing", "detail": ""}, "status": "failure"}
    r = srv.get(BASE + "/missing")  # thrown rather than set
    assert r.status_code == 404 and r.json()["error"]["message"] == "no such thing"
    r = srv.get(BASE + "/custom")
    assert r.status_code == 418
    assert r.json() == {"error": {"message": "teapot", "detail": "short and stout"}, "status": "failure"}
    r = srv.get(BASE + "/boom")
    assert r.status_code == 500 and r.json()["status"] == "failure"
    assert "kaboom" in r.json()["error"]["detail"]
    # the error is in syslog
    logs = srv.get("/api/now/table/syslog", params={"sysparm_query": "messageLIKEkaboom"}).json()["result"]
    assert logs
    # a binary body without a content type is a 500; with one, the raw bytes
    r = srv.get(BASE + "/stream")
    assert r.status_code == 500 and r.json()["status"] == "failure"
    r = srv.get(BASE + "/stream2")
    assert r.status_code == 200 and r.text == "hello world"
    assert r.headers["Content-Type"] == "text/plain"


def test_xml_by_accept_and_produces(srv):
    r = srv.get(BASE + "/items/7", headers={"Accept": "application/xml"})
    assert r.status_code == 202
    assert r.headers["Content-Type"].startswith("application/xml")
    root = ET.fromstring(r.text)
    assert root.tag == "response" and root.find("result/id").text == "7"
    r = srv.get(BASE + "/bad", headers={"Accept": "application/xml"})
    assert r.status_code == 400 and ET.fromstring(r.text).find("error/message").text == "bad thing"
    # an operation producing JSON only refuses XML
    r = srv.get(BASE + "/jsononly", headers={"Accept": "application/xml"})
    assert r.status_code == 406 and ET.fromstring(r.text).find("status").text == "failure"
    assert srv.get(BASE + "/jsononly").status_code == 200
    # consumes: JSON and XML by default
    r = srv.post(BASE + "/items", data="title", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415 and r.json()["status"] == "failure"


def test_requires_authentication_flag(srv):
    anon = requests.get(srv.url + BASE + "/public")
    assert anon.status_code == 200, anon.text
    assert anon.json()["result"] == {"user": "guest", "roles": False}
    # credentials sent are still checked
    bad = requests.get(srv.url + BASE + "/public", auth=("admin", "wrong"))
    assert bad.status_code == 401
    r = requests.get(srv.url + BASE + "/private")
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("BASIC")
    assert r.json()["error"]["message"] == "User Not Authenticated"


def test_acl_authorization(srv):
    acl = srv.post("/api/now/table/sys_security_acl", headers=ELEVATE,
                   json={"name": BASE + "/secure", "type": "rest_endpoint", "operation": "execute"})
    assert acl.status_code == 201, acl.text
    acl_id = acl.json()["result"]["sys_id"]
    role = srv.get("/api/now/table/sys_user_role", params={"name": "itil"}).json()["result"][0]
    r = srv.post("/api/now/table/sys_security_acl_role", headers=ELEVATE,
                 json={"sys_security_acl": acl_id, "sys_user_role": role["sys_id"]})
    assert r.status_code == 201, r.text
    r = srv.post("/api/now/table/sys_ws_operation", json=op_record(
        srv.def_id, "secure", "GET", "/secure", "response.setBody({who: gs.getUserName()});",
        {"requires_acl_authorization": "true", "enforce_acl": acl_id}))
    assert r.status_code == 201
    itil = as_user(srv, "ws.itil", "Ws-itil-pass-12")
    nobody = as_user(srv, "ws.nobody", "Ws-nobody-pass-12")
    assert itil("GET", BASE + "/secure").json() == {"result": {"who": "ws.itil"}}
    r = nobody("GET", BASE + "/secure")
    assert r.status_code == 403 and r.json()["status"] == "failure"
    assert srv.get(BASE + "/secure").status_code == 200  # admin overrides
    # without enforce_acl: the REST_Endpoint ACLs named by the resource path apply
    r = srv.post("/api/now/table/sys_ws_operation", json=op_record(
        srv.def_id, "by name", "GET", "/byname", "response.setBody({ok: true});",
        {"requires_acl_authorization": "true", "operation_uri": BASE + "/byname"}))
    assert nobody("GET", BASE + "/byname").status_code == 200  # no ACL names it yet
    acl2 = srv.post("/api/now/table/sys_security_acl", headers=ELEVATE,
                    json={"name": BASE + "/byname", "type": "rest_endpoint", "operation": "execute"})
    assert acl2.status_code == 201, acl2.text
    assert acl2.json()["result"]["operation"] == "execute"
    srv.post("/api/now/table/sys_security_acl_role", headers=ELEVATE,
             json={"sys_security_acl": acl2.json()["result"]["sys_id"], "sys_user_role": role["sys_id"]})
    assert nobody("GET", BASE + "/byname").status_code == 403
    assert itil("GET", BASE + "/byname").status_code == 200


def test_versions_and_default_version(srv):
    r = srv.post("/api/now/table/sys_ws_definition",
                 json={"name": "Versioned", "service_id": "ver", "namespace": "x_snow", "is_versioned": "true"})
    def_id = r.json()["result"]["sys_id"]
    versions = {}
    for n in (1, 2):
        r = srv.post("/api/now/table/sys_ws_version",
                     json={"web_service_definition": def_id, "version": str(n), "version_id": f"v{n}"})
        assert r.status_code == 201, r.text
        versions[n] = r.json()["result"]["sys_id"]
        srv.post("/api/now/table/sys_ws_operation", json=op_record(
            def_id, f"who v{n}", "GET", "/who", f"response.setBody({{v: {n}}});",
            {"web_service_version": versions[n]}))
    assert srv.get("/api/x_snow/v1/ver/who").json() == {"result": {"v": 1}}
    assert srv.get("/api/x_snow/v2/ver/who").json() == {"result": {"v": 2}}
    assert srv.get("/api/x_snow/ver/who").json() == {"result": {"v": 2}}  # the latest
    srv.patch(f"/api/now/table/sys_ws_version/{versions[1]}", json={"is_default": "true"})
    assert srv.get("/api/x_snow/ver/who").json() == {"result": {"v": 1}}  # the default
    r = srv.get("/api/x_snow/v3/ver/who")
    assert r.status_code == 400
    assert r.json()["error"]["message"] == "Requested URI does not represent any resource"


def test_global_namespace_is_the_company_code(srv):
    r = srv.post("/api/now/table/sys_ws_definition", json={"name": "Global", "service_id": "glob"})
    def_id = r.json()["result"]["sys_id"]
    srv.post("/api/now/table/sys_ws_operation",
             json=op_record(def_id, "ping", "GET", "/ping", "response.setBody('pong');", {}))
    srv.set_property("glide.appcreator.company.code", "acme")
    assert srv.get("/api/acme/glob/ping").json() == {"result": "pong"}


def test_unknown_resources_answer_as_before(srv):
    for path in (BASE + "/nothing", "/api/zzz/yyy", "/api/now/v3/table/incident", "/api/x_snow/demo"):
        r = srv.get(path)
        assert r.status_code == 400, path
        assert r.json() == {"error": {"message": "Requested URI does not represent any resource",
                                      "detail": None}, "status": "failure"}
    assert requests.get(srv.url + "/api/zzz/yyy").status_code == 401  # 401 before 400
    r = srv.delete(BASE + "/items/3")  # the path exists for GET only
    assert r.status_code == 405
    assert srv.delete("/api/now/table/incident").status_code == 405
    assert srv.get("/api/now/table/incident", params={"sysparm_limit": 1}).status_code == 200


def test_runaway_script_is_stopped(srv):
    srv.set_property("snowglobe.script.timeout_ms", "300")
    t = time.time()
    r = srv.get(BASE + "/loop")
    assert r.status_code == 500 and "timeout" in r.json()["error"]["detail"]
    assert time.time() - t < 10
    assert srv.get(BASE + "/items/1").status_code == 202  # still serving
    srv.set_property("snowglobe.script.timeout_ms", "5000")


def test_demo_app_webhook():
    s = Server(demo=False)
    try:
        nowctl(s, "app", "install", APP, offline=True)
        r = s.post("/api/x_inio/incident_io/alerts/ALERT-7", json={"title": "Disk full"})
        assert r.status_code == 201, r.text
        sid = r.json()["result"]["sys_id"]
        alert = s.get(f"/api/now/table/x_inio_alert/{sid}").json()["result"]
        assert alert["title"] == "Disk full" and alert["external_id"] == "ALERT-7"
        assert requests.post(s.url + "/api/x_inio/incident_io/alerts/A", json={}).status_code == 401
    finally:
        s.stop()
