"""Scenario 2 end to end (an incident-response product, incident.io-style): the admin's set-up
(examples/incident-response/setup.sh, run for real against nowd, twice), then the product side
through nowsync: incidents in (created by the service account), follow-ups as task records whose
parent is the incident (created, updated, completed, read back), the instance's changes back to
the product by push (a business rule's REST message to nowsync's /v1/changes) and by poll, with
nowsync's own writes not echoed, and the CMDB / user / group reads by keyset.  The negative run
leaves the three task ACLs out: nowsync names the missing task create grant."""
import http.server
import json
import os
import signal
import subprocess
import threading
import time

import requests

from conftest import BIN, PASSWORD, Server, free_port, wait_for

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
EXAMPLE = os.path.join(ROOT, "examples", "incident-response")
NOWSYNC = os.path.join(BIN, "nowsync")
SVC = "svc-incident-io"
ELEVATE = {"X-Snowglobe-Elevate": "security_admin"}  # the admin's security_admin, in effect
TASK_CREATE_GRANT = ("role itil, or a create ACL on task for one of the account's roles "
                     "(incident.io: x_incident_io.api_user)")


def env(**extra):
    e = {k: v for k, v in os.environ.items() if not k.startswith(("NOWSYNC_", "NOWCTL_"))}
    e.update(extra)
    return e


def run_setup(srv, secrets, **extra):
    e = env(NOWCTL=os.path.join(BIN, "nowctl"), NOWCTL_INSTANCE=srv.url, NOWCTL_USER="admin",
            NOWCTL_PASSWORD=PASSWORD, SECRETS_OUT=str(secrets), **extra)
    r = subprocess.run(["sh", os.path.join(EXAMPLE, "setup.sh")], capture_output=True, text=True,
                       env=e, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Sanitizer" not in r.stderr
    return dict(line.split("=", 1) for line in secrets.read_text().splitlines())


def ns(data, *args, stdin=None, ok=True, timeout=120):
    r = subprocess.run([NOWSYNC, "--data", str(data), *args], capture_output=True, text=True,
                       input=stdin or "", env=env(), timeout=timeout)
    assert "Sanitizer" not in r.stderr and "runtime error" not in r.stderr, r.stderr
    if ok:
        assert r.returncode == 0, (args, r.returncode, r.stdout, r.stderr)
    return r


def connect(data, srv, sec):
    """The product's "connect": base URL, client id/secret, user/password (password grant)."""
    os.makedirs(data / "profiles", exist_ok=True)
    for name in ("incidents", "followups"):
        with open(os.path.join(EXAMPLE, name + ".json")) as f:
            (data / "profiles" / f"{name}.json").write_text(f.read())
    return ns(data, "connection", "add", "incident-io", "--instance", srv.url, "--client-id",
              sec["client_id"], "--user", sec["user"], "--secrets-stdin",
              stdin=f"client_secret={sec['client_secret']}\npassword={sec['password']}\n", ok=False)


def state_of(srv):
    """What the recipe makes, counted: to compare a second run with the first."""
    def n(table, q):
        r = srv.get(f"/api/now/table/{table}", params={"sysparm_query": q, "sysparm_fields": "sys_id"},
                    headers=ELEVATE)
        assert r.status_code == 200, r.text
        return len(r.json()["result"])
    return {"app": n("oauth_entity", "name=incident.io"), "user": n("sys_user", f"user_name={SVC}"),
            "app_role": n("sys_user_role", "name=x_incident_io.api_user"),
            "roles": n("sys_user_has_role", f"user.user_name={SVC}"),
            "acls": n("sys_security_acl_role", "sys_security_acl.name=task^sys_user_role.name=x_incident_io.api_user")}


class Product:
    """The product's webhook for ServiceNow's changes: keeps every body, in order."""

    def __init__(self):
        self.got, self.lock = [], threading.Lock()
        self.port = free_port()
        product = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with product.lock:
                    product.got.append(dict(body, _delivery=self.headers.get("Idempotency-Key")))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), H)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def events(self, sys_id=None, source=None):
        with self.lock:
            return [g for g in self.got if (sys_id is None or g["sys_id"] == sys_id)
                    and (source is None or g["source"] == source)]

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class Serve:
    def __init__(self, data):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(os.path.join(str(data), "serve.log"), "w+")
        self.proc = subprocess.Popen([NOWSYNC, "--data", str(data), "serve", "--port", str(self.port),
                                      "--workers", "2"], stderr=self.log, env=env())

        def up():
            try:
                return requests.get(self.url + "/healthz", timeout=1).status_code == 200
            except requests.ConnectionError:
                return False
        assert wait_for(up, timeout=20)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(timeout=60) == 0
        self.log.seek(0)
        out = self.log.read()
        assert "Sanitizer" not in out and "runtime error" not in out, out


def one(srv, table, query, fields="sys_id"):
    r = srv.get(f"/api/now/table/{table}", params={"sysparm_query": query, "sysparm_fields": fields,
                                                    "sysparm_exclude_reference_link": "true"},
                headers=ELEVATE)
    rows = r.json()["result"]
    return rows[0] if len(rows) == 1 else None


def push_state(srv):
    def n(table, q):
        return len(srv.get(f"/api/now/table/{table}", params={"sysparm_query": q, "sysparm_fields": "sys_id"},
                           headers=ELEVATE).json()["result"])
    return {"messages": n("sys_rest_message", "name=incident.io push"),
            "functions": n("sys_rest_message_fn", "rest_message.name=incident.io push^function_name=post change"),
            "rules": n("sys_script", "nameSTARTSWITHincident.io push^active=true")}


def test_incident_response_end_to_end(tmp_path):
    srv = Server()  # the demo data: CIs, users and groups to read
    product = Product()
    serve = None
    try:
        srv.set_property("snowglobe.rest.allow_elevation", "true")  # the guide's "elevate"
        sec = run_setup(srv, tmp_path / "secrets")
        assert oct(os.stat(tmp_path / "secrets").st_mode & 0o777) == "0o600"
        first = state_of(srv)
        assert first == {"app": 1, "user": 1, "app_role": 1, "roles": 4, "acls": 3}, first
        assert push_state(srv) == {"messages": 0, "functions": 0, "rules": 0}  # no PRODUCT_WEBHOOK_URL
        assert run_setup(srv, tmp_path / "secrets") == sec  # idempotent: same state, same secrets
        assert state_of(srv) == first
        user = one(srv, "sys_user", f"user_name={SVC}",
                   "identity_type,active,locked_out,password_needs_reset,email")
        assert user == {"identity_type": "machine", "active": "true", "locked_out": "false",
                        "password_needs_reset": "false", "email": f"{SVC}@example.invalid"}
        for op in ("read", "create", "write"):
            acl = one(srv, "sys_security_acl_role",
                      f"sys_security_acl.name=task^sys_security_acl.operation={op}"
                      "^sys_user_role.name=x_incident_io.api_user", "sys_security_acl")
            a = srv.get(f"/api/now/table/sys_security_acl/{acl['sys_security_acl']}",
                        headers=ELEVATE).json()["result"]
            assert (a["type"], a["active"], a["admin_overrides"]) == ("record", "true", "true")

        data = tmp_path / "ns"
        # saved: the guide's account works; it reads no metadata (the profiles do not validate)
        r = connect(data, srv, sec)
        assert r.returncode == 19 and "saved" in r.stderr, r.stdout + r.stderr
        r = ns(data, "connection", "test", "incident-io", "--json", "--probe-writes", ok=False)
        t = json.loads(r.stdout)
        assert t["auth"] == "password" and t["failed_step"] == "capabilities"
        refused = {(tb, op) for tb, ops in t["capabilities"].items() for op, v in ops.items()
                   if v["state"] == "refused"}
        assert refused == {("sys_dictionary", "read"), ("sys_choice", "read"), ("sys_db_object", "read"),
                           ("core_company", "create")}, refused
        for tb in ("incident", "task"):
            assert {op: v["state"] for op, v in t["capabilities"][tb].items()} == {
                "read": "allowed", "create": "allowed", "write": "allowed"}, t["capabilities"][tb]
        for tb in ("cmdb_ci", "sys_user", "sys_user_group"):
            assert t["capabilities"][tb]["read"]["state"] == "allowed"

        # the product's incidents and follow-ups in; ServiceNow's changes back to its webhook
        ns(data, "backsync", "add", "incident-io", "--table", "incident", "--webhook",
           f"http://127.0.0.1:{product.port}/servicenow", "--interval", "3600", "--lag", "1")
        ns(data, "backsync", "add", "incident-io", "--table", "task", "--webhook",
           f"http://127.0.0.1:{product.port}/servicenow", "--interval", "3600", "--lag", "1")
        tok_inc = ns(data, "token", "create", "product-incidents", "--connection", "incident-io",
                     "--profile", "incidents").stdout.strip().split()[-1]
        tok_fu = ns(data, "token", "create", "product-followups", "--connection", "incident-io",
                    "--profile", "followups").stdout.strip().split()[-1]
        tok_push = ns(data, "token", "create", "instance-push", "--connection",
                      "incident-io").stdout.strip().split()[-1]
        serve = Serve(data)

        def send(tok, *events):
            r = requests.post(serve.url + "/v1/events", json=list(events),
                              headers={"Authorization": f"Bearer {tok}"})
            assert r.status_code == 202, r.text
            return r.json()

        # a follow-up sent before its incident exists waits for the incident's record
        send(tok_fu, {"key": "FU-1", "status": "firing", "summary": "Write the postmortem",
                      "fields": {"incident": "INC-7", "description": "within 5 days"}})
        send(tok_inc, {"key": "INC-7", "status": "firing", "summary": "Checkout is down",
                       "severity": "critical", "fields": {"description": "500s on /pay"}})
        assert wait_for(lambda: one(srv, "task", "sys_class_name=task^parentISNOTEMPTY") is not None,
                        timeout=30), ns(data, "outbox", "list").stdout
        inc = one(srv, "incident", "correlation_id=incident.io:INC-7",
                  "sys_id,short_description,description,impact,urgency,state,sys_created_by,opened_by,caller_id")
        assert inc["short_description"] == "Checkout is down" and inc["description"] == "500s on /pay"
        assert (inc["impact"], inc["urgency"], inc["state"]) == ("1", "1", "1")
        assert inc["sys_created_by"] == SVC
        fu = one(srv, "task", "correlation_id=incident.io-followup:FU-1",
                 "sys_id,parent,short_description,description,state,sys_created_by,sys_class_name")
        assert fu["parent"] == inc["sys_id"] and fu["sys_class_name"] == "task"
        assert (fu["short_description"], fu["state"], fu["sys_created_by"]) == ("Write the postmortem", "1", SVC)

        # the follow-up updated, then completed, by the product
        send(tok_fu, {"key": "FU-1", "status": "firing", "summary": "Write and review the postmortem",
                      "fields": {"incident": "INC-7", "description": "within 5 days"}})
        assert wait_for(lambda: one(srv, "task", f"sys_id={fu['sys_id']}^short_description="
                                    "Write and review the postmortem") is not None, timeout=20)
        send(tok_fu, {"key": "FU-1", "status": "resolved", "fields": {"incident": "INC-7"}})
        assert wait_for(lambda: one(srv, "task", f"sys_id={fu['sys_id']}^state=3") is not None, timeout=20)
        # sent again (a product that lost an answer): still one follow-up, one incident
        send(tok_fu, {"key": "FU-2", "status": "firing", "summary": "Add an alert", "occurred_at": 1764500000,
                      "fields": {"incident": "INC-7"}})
        assert send(tok_fu, {"key": "FU-2", "status": "firing", "summary": "Add an alert",
                             "occurred_at": 1764500000, "fields": {"incident": "INC-7"}})["duplicates"] == 1
        assert wait_for(lambda: len(srv.get("/api/now/table/task", params={
            "sysparm_query": f"parent={inc['sys_id']}", "sysparm_fields": "sys_id"}).json()["result"]) == 2, 20)
        # the follow-ups read back, as the product shows them
        got = json.loads(ns(data, "read", "incident-io", "task", "--query", f"parent={inc['sys_id']}",
                            "--fields", "short_description,state,parent", "--all", "--page", "1",
                            "--json").stdout)
        assert sorted((x["short_description"], x["state"]) for x in got["records"]) == [
            ("Add an alert", "1"), ("Write and review the postmortem", "3")]

        # instance -> product by push: setup.sh again, now with the receiver's URL and token,
        # makes the REST message and an after-update business rule on incident and task;
        # a second such run changes nothing
        for _ in range(2):
            assert run_setup(srv, tmp_path / "secrets", PRODUCT_WEBHOOK_URL=serve.url,
                             PRODUCT_WEBHOOK_TOKEN=tok_push) == sec
            assert state_of(srv) == first
            assert push_state(srv) == {"messages": 1, "functions": 1, "rules": 2}
        r = srv.patch(f"/api/now/table/incident/{inc['sys_id']}", json={"state": "2", "work_notes": "on it"})
        assert r.status_code == 200
        assert wait_for(lambda: product.events(inc["sys_id"], "push"), timeout=30), product.got
        ev = product.events(inc["sys_id"], "push")[-1]
        assert (ev["type"], ev["state"], ev["sys_updated_by"], ev["key"]) == ("updated", "2", "admin", "INC-7")
        # nowsync's own write (a product update) is pushed by the rule too, and not echoed
        before = len(product.events(inc["sys_id"]))
        send(tok_inc, {"key": "INC-7", "status": "firing", "summary": "Checkout is down (EU only)",
                       "severity": "critical", "fields": {"description": "500s on /pay"}})
        assert wait_for(lambda: one(srv, "incident", f"sys_id={inc['sys_id']}^short_description="
                                    "Checkout is down (EU only)") is not None, timeout=20)
        r = srv.patch(f"/api/now/table/task/{fu['sys_id']}", json={"state": "2"})  # someone reopens it
        assert r.status_code == 200
        assert wait_for(lambda: product.events(fu["sys_id"], "push"), timeout=30), product.got
        time.sleep(1)
        assert len(product.events(inc["sys_id"])) == before, product.events(inc["sys_id"])
        assert product.events(fu["sys_id"], "push")[-1]["type"] == "updated"
        serve.stop()
        serve = None

        # instance -> product by poll: the rules off, a resolve made in ServiceNow
        for rule in srv.get("/api/now/table/sys_script", params={
                "sysparm_query": "nameSTARTSWITHincident.io push"}).json()["result"]:
            srv.patch(f"/api/now/table/sys_script/{rule['sys_id']}", json={"active": "false"})
        r = srv.patch(f"/api/now/table/incident/{inc['sys_id']}", json={
            "state": "6", "close_code": "Solution provided", "close_notes": "rolled back"})
        assert r.status_code == 200
        time.sleep(2.1)  # past --lag
        ns(data, "backsync", "run", "--once", "incident-io", "--table", "incident", "--quiet")
        polled = product.events(inc["sys_id"], "poll")
        assert [(e["type"], e["state"], e["closed"]) for e in polled] == [("closed", "6", True)], polled
        assert polled[0]["record"]["close_notes"] == "rolled back"
        assert len({g["_delivery"] for g in product.got}) == len(product.got)

        # the reads: CIs, users, groups, by keyset pages, as the admin sees them
        for table, fields in (("cmdb_ci", "name,sys_class_name"), ("sys_user", "user_name"),
                              ("sys_user_group", "name")):
            got = json.loads(ns(data, "read", "incident-io", table, "--fields", fields, "--page", "3",
                                "--all", "--json").stdout)
            want = srv.get(f"/api/now/table/{table}", params={
                "sysparm_query": "ORDERBYsys_id", "sysparm_fields": "sys_id," + fields,
                "sysparm_limit": "10000"}).json()["result"]
            assert got["records"] == want and len(want) > 3 and got["next"] is None, table
        page = json.loads(ns(data, "read", "incident-io", "sys_user", "--page", "2", "--fields",
                             "user_name", "--json").stdout)
        assert len(page["records"]) == 2 and page["next"] == page["records"][1]["sys_id"]
        rest = json.loads(ns(data, "read", "incident-io", "sys_user", "--after", page["next"], "--page", "3",
                             "--all", "--max", "4", "--fields", "user_name", "--json").stdout)
        users = srv.get("/api/now/table/sys_user", params={"sysparm_query": "ORDERBYsys_id",
                                                            "sysparm_fields": "sys_id,user_name"}).json()["result"]
        assert page["records"] + rest["records"] == users[:6] and rest["next"] == users[5]["sys_id"]
        r = ns(data, "read", "incident-io", "sys_properties", ok=False)
        assert r.returncode == 2
    finally:
        if serve:
            serve.stop()
        product.stop()
        srv.stop()


def test_without_the_task_acls_a_follow_up_is_refused_by_name(tmp_path):
    """The three task ACLs left out.  With the guide's four roles they are not missed:
    incident_manager contains itil, and itil is granted task by the base ACLs (in nowd as in
    ServiceNow's base set).  They are what grants task to an account whose roles do not reach
    itil -- the app role alone: then creating a follow-up is refused, and nowsync names the grant
    missing."""
    srv = Server(demo=False)
    try:
        srv.set_property("snowglobe.rest.allow_elevation", "true")
        secrets = tmp_path / "secrets"
        sec = run_setup(srv, secrets, SKIP_STEP="3")
        assert state_of(srv)["acls"] == 0
        data = tmp_path / "ns"
        assert connect(data, srv, sec).returncode == 19
        t = json.loads(ns(data, "connection", "test", "incident-io", "--json", "--probe-writes",
                          ok=False).stdout)
        assert t["capabilities"]["task"]["create"]["state"] == "allowed"

        sec = run_setup(srv, secrets, SKIP_STEP="3", SERVICE_USER="svc-incident-io-app",
                        SERVICE_ROLES="x_incident_io.api_user cmdb_read sn_cmdb_user")
        assert sec["user"] == "svc-incident-io-app"
        data = tmp_path / "ns2"
        assert connect(data, srv, sec).returncode == 19
        r = ns(data, "connection", "test", "incident-io", "--json", "--probe-writes", ok=False)
        assert r.returncode == 19
        t = json.loads(r.stdout)
        assert t["failed_step"] == "capabilities"
        create = t["capabilities"]["task"]["create"]
        assert create["state"] == "refused" and create["granted_by"] == TASK_CREATE_GRANT, create
        assert t["capabilities"]["task"]["read"]["granted_by"] == TASK_CREATE_GRANT.replace("create", "read")
        # the text form names it too
        r = ns(data, "connection", "test", "incident-io", "--probe-writes", ok=False)
        assert "task create: HTTP 403" in r.stdout and "granted by role itil, or a create ACL on task" in r.stdout
        # with the ACLs back (the recipe run whole), the same account may create follow-ups
        run_setup(srv, secrets, SERVICE_USER="svc-incident-io-app",
                  SERVICE_ROLES="x_incident_io.api_user cmdb_read sn_cmdb_user")
        t = json.loads(ns(data, "connection", "test", "incident-io", "--json", "--probe-writes",
                          ok=False).stdout)
        assert {op: v["state"] for op, v in t["capabilities"]["task"].items()} == {
            "read": "allowed", "create": "allowed", "write": "allowed"}
    finally:
        srv.stop()
