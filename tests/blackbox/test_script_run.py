"""Scripts - Background: nowctl script run (offline and online) and
POST /api/now/snowglobe/script, with its refusals and the script limits."""
import os
import subprocess
import threading

from conftest import BIN, PASSWORD, as_user, nowctl

ELEVATE = {"X-Snowglobe-Elevate": "security_admin"}
PATH = "/api/now/snowglobe/script"


def run_script(server, source, offline, *extra):
    env = dict(os.environ, NOWCTL_PASSWORD=PASSWORD)
    where = server.where if offline else ["--instance", server.url, "--user", "admin"]
    return subprocess.run([os.path.join(BIN, "nowctl"), *where, *extra, "script", "run", "-"],
                          input=source, capture_output=True, text=True, env=env)


SCRIPT = """
var gr = new GlideRecord('incident');
gr.initialize();
gr.short_description = 'made by a background script';
var id = gr.insert();
var again = new GlideRecord('incident');
again.get(id);
gs.print('number ' + again.number.toString().substring(0, 3));
gs.info('by {0}', again.sys_created_by);
var u = new GlideRecord('sys_user');
u.get('user_name', 'admin');
gs.print('password [' + u.user_password + ']');
"""


def test_offline_runs_as_the_system(fresh):
    r = run_script(fresh, SCRIPT, True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["*** Script: number INC", "*** Script: by system",
                                     "*** Script: password []"]
    # The insert went through the write pipeline: numbered, audited, visible over REST.
    rows = fresh.get("/api/now/table/incident",
                     params={"sysparm_query": "short_description=made by a background script"}).json()["result"]
    assert len(rows) == 1 and rows[0]["number"].startswith("INC")
    # gs.info landed in syslog.
    logs = fresh.get("/api/now/table/syslog", params={"sysparm_query": "message=by system"}).json()["result"]
    assert len(logs) == 1 and logs[0]["level"] == "0"


def test_online_needs_admin_and_security_admin_in_effect(fresh):
    # Without elevation allowed, even the admin is refused (ServiceNow's
    # Scripts - Background needs security_admin elevation).
    r = run_script(fresh, "gs.print('x')", False)
    assert r.returncode == 1 and "403" in r.stderr
    r = fresh.post(PATH, json={"script": "gs.print('x')"}, headers=ELEVATE)
    assert r.status_code == 403
    assert r.json()["status"] == "failure" and r.json()["error"]["message"]
    nowctl(fresh, "property", "set", "snowglobe.rest.allow_elevation", "true", offline=True)
    # Elevated admin: runs, as the admin.
    r = run_script(fresh, SCRIPT, False)
    assert r.returncode == 0, r.stderr
    assert "*** Script: by admin" in r.stdout.splitlines()
    # Not elevated: refused.
    r = fresh.post(PATH, json={"script": "gs.print('x')"})
    assert r.status_code == 403
    # A user without admin, elevated or not: refused.
    nowctl(fresh, "user", "add", "script.user", "--password", "Script-User-Pass-1", "--role", "itil")
    call = as_user(fresh, "script.user", "Script-User-Pass-1", ELEVATE)
    r = call("POST", PATH, json={"script": "gs.print('x')"})
    assert r.status_code == 403
    # Bad bodies.
    r = fresh.post(PATH, json={"scrip": "x"}, headers=ELEVATE)
    assert r.status_code == 400 and r.json()["status"] == "failure"
    r = fresh.post(PATH, data="not json", headers=dict(ELEVATE, **{"Content-Type": "application/json"}))
    assert r.status_code == 400


def test_errors_and_limits_keep_the_server_serving(fresh):
    nowctl(fresh, "property", "set", "snowglobe.rest.allow_elevation", "true", offline=True)
    nowctl(fresh, "property", "set", "snowglobe.script.timeout_ms", "500", offline=True)
    r = fresh.post(PATH, json={"script": "var a = 1;\nnull.x;"}, headers=ELEVATE)
    assert r.status_code == 200
    res = r.json()["result"]
    assert res["status"] == "error" and res["line"] == 2 and "TypeError" in res["error"]
    r = fresh.post(PATH, json={"script": "var a = ;"}, headers=ELEVATE)
    assert r.json()["result"]["status"] == "syntax error"
    # A runaway loop and a memory hog at once, while others are served.
    answers = {}

    def post(name, src):
        answers[name] = fresh.post(PATH, json={"script": src}, headers=ELEVATE, timeout=30)

    threads = [threading.Thread(target=post, args=("loop", "for (;;) { try { for (;;) {} } catch (e) {} }")),
               threading.Thread(target=post, args=("hog", "var a = []; for (;;) a.push(new Array(1000).join('x') + a.length);"))]
    for t in threads:
        t.start()
    assert fresh.get("/api/now/table/incident", params={"sysparm_limit": 1}).status_code == 200
    for t in threads:
        t.join()
    assert answers["loop"].json()["result"]["status"] == "timeout"
    assert answers["hog"].json()["result"]["status"] in ("memory limit", "timeout")
    # The failures are in syslog, level error, named by their script.
    logs = fresh.get("/api/now/table/syslog", params={"sysparm_query": "level=2^source=Background"}).json()["result"]
    assert any("timeout" in l["message"] for l in logs)
    assert any("TypeError" in l["message"] for l in logs)
    r = run_script(fresh, "for (;;) {}", True)
    assert r.returncode == 1 and "timeout" in r.stderr


def test_script_includes_of_every_form_resolve(fresh):
    """An include is found by name whether it declares a function ("on demand"), assigns a
    var, or builds a class; an error inside one keeps its own line number."""
    for name, script in (("OnDemandTotal", "function OnDemandTotal(a, b) { return a + b; }"),
                         ("VarHelper", "var VarHelper = function () { return 'var'; };"),
                         ("ClassUtil", "var ClassUtil = Class.create();\nClassUtil.prototype = {\n"
                                       "  initialize: function () { this.base = 40; },\n"
                                       "  total: function () { return OnDemandTotal(this.base, 2); }\n};"),
                         ("Broken", "var Broken = function () {\n  return missing.value;\n};")):
        nowctl(fresh, "table", "create", "sys_script_include", f"name={name}", f"api_name={name}",
               "active=true", f"script={script}", offline=True)
    r = run_script(fresh, "gs.print(OnDemandTotal(1, 2)); gs.print(VarHelper()); "
                          "gs.print(new ClassUtil().total()); gs.print(typeof NoSuchInclude);\n"
                          "try { Broken(); } catch (e) { gs.print('line ' + e.lineNumber); }", True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["*** Script: 3", "*** Script: var", "*** Script: 42",
                                     "*** Script: undefined", "*** Script: line 2"]
