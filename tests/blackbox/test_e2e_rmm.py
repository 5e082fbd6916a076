"""Scenario 1 end to end (an RMM product, NinjaOne-style): the ServiceNow side made by
examples/rmm/setup.sh (nowctl only, run twice: idempotent), the product side by nowsync
(`nowsync rmm`: organizations -> companies/accounts with their CI mapping and "allow incidents",
the five sync statuses, manual mapping only while inactive; devices -> CIs through the IRE with no
duplicate on rename or re-send; alerts -> incidents with company and CI, or dropped with a
reason), and closed states reported back to a stand-in of the product both by nowd's push (the
recipe's business rule and REST message) and by nowsync's poll (back-sync).  Negative: the recipe
without its roles/ACLs step, and nowsync's first sync names what is missing."""
import http.server
import json
import os
import secrets
import subprocess
import threading
import urllib.parse

import pytest
import requests

from conftest import BIN, Server, free_port, nowctl, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.join(HERE, "..", "..", "examples", "rmm")
CLIENT_SECRET = "Ninja-secret-" + secrets.token_hex(8)


class Product:
    """The product's API: a client-credentials token endpoint, the endpoint nowd's REST message
    posts closed states to, and the webhook nowsync's back-sync posts changes to."""

    def __init__(self):
        self.client_id = "ninja-" + secrets.token_hex(4)
        self.lock = threading.Lock()
        self.tokens, self.pushed, self.polled = set(), [], []
        product = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def reply(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                if self.path == "/ws/oauth/token":
                    form = dict(urllib.parse.parse_qsl(raw))
                    if (form.get("client_id"), form.get("client_secret")) != (product.client_id, CLIENT_SECRET):
                        return self.reply(401, {"error": "invalid_client"})
                    token = "at-" + secrets.token_hex(8)
                    with product.lock:
                        product.tokens.add(token)
                    return self.reply(200, {"access_token": token, "token_type": "Bearer", "expires_in": 3600})
                if self.path.startswith("/v2/ticketing/servicenow/incident/"):
                    auth = self.headers.get("Authorization", "")
                    with product.lock:
                        if auth[7:] not in product.tokens:
                            return self.reply(401, {"error": "invalid_token"})
                        product.pushed.append(dict(json.loads(raw), sys_id=self.path.rsplit("/", 1)[1]))
                    return self.reply(200, {"accepted": True})
                if self.path == "/v2/servicenow/backsync":
                    with product.lock:
                        product.polled.append(json.loads(raw))
                    return self.reply(200, {"accepted": True})
                self.reply(404, {"error": "not found"})

        class Srv(http.server.ThreadingHTTPServer):
            daemon_threads = True

        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.httpd = Srv(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def product():
    p = Product()
    yield p
    p.stop()


def setup_sh(srv, product, tmp, skip=None):
    secret_file = os.path.join(tmp, "client_secret")
    with open(secret_file, "w") as f:
        f.write(CLIENT_SECRET + "\n")
    env = dict(os.environ, NOWCTL=os.path.join(BIN, "nowctl"),
               PRODUCT_URL=product.base, CLIENT_ID=product.client_id, CLIENT_SECRET_FILE=secret_file,
               SECRETS_OUT=os.path.join(tmp, "secrets"), SKIP_STEP=skip or "")
    for k in ("NOWCTL_INSTANCE", "NOWCTL_USER", "NOWCTL_PASSWORD", "NOWCTL_DATA", "NOWCTL_DB"):
        env.pop(k, None)
    # the instance's data directory, or its database on PostgreSQL (srv.where: --data DIR or --db URL)
    env["NOWCTL_DB" if srv.where[0] == "--db" else "NOWCTL_DATA"] = srv.where[1]
    r = subprocess.run(["sh", os.path.join(EXAMPLE, "setup.sh")], env=env, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert CLIENT_SECRET not in r.stdout + r.stderr
    with open(os.path.join(tmp, "secrets")) as f:
        password = f.read().strip().split("=", 1)[1]
    assert os.stat(os.path.join(tmp, "secrets")).st_mode & 0o777 == 0o600
    assert password not in r.stdout + r.stderr
    return password


class Nowsync:
    def __init__(self, tmp, password):
        self.data = os.path.join(tmp, "nowsync")
        self.profiles = os.path.join(tmp, "profiles")
        os.makedirs(self.profiles)
        with open(os.path.join(EXAMPLE, "profile.json")) as f:
            profile = f.read()
        with open(os.path.join(self.profiles, "ninja-alerts.json"), "w") as f:
            f.write(profile)
        self.env = dict(os.environ, NOWSYNC_PASSWORD=password)

    def __call__(self, *args, stdin=None, ok=True):
        r = subprocess.run([os.path.join(BIN, "nowsync"), "--data", self.data, "--profiles", self.profiles,
                            *args], input=stdin, env=self.env, capture_output=True, text=True, timeout=60)
        if ok:
            assert r.returncode == 0, (args, r.returncode, r.stdout, r.stderr)
        return r

    def lines(self, *args, records, ok=True):
        return self(*args, "-", stdin="".join(json.dumps(r) + "\n" for r in records), ok=ok)

    def connect(self, srv, product, tmp, **env):
        env = dict(self.env, NOWSYNC=os.path.join(BIN, "nowsync"), NOWSYNC_DATA=self.data,
                   NOWSYNC_PROFILES=self.profiles, INSTANCE=srv.url, SECRETS=os.path.join(tmp, "secrets"),
                   PRODUCT_URL=product.base, **env)
        env.pop("NOWSYNC_PASSWORD")
        r = subprocess.run(["sh", os.path.join(EXAMPLE, "connect.sh")], env=env, capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, (r.stdout, r.stderr)
        return r

    def state(self):
        return json.loads(self("rmm", "list", "ninja", "--json").stdout)


def table(srv, name, query, fields=""):
    r = srv.get(f"/api/now/table/{name}", params={"sysparm_query": query, "sysparm_fields": fields,
                                                  "sysparm_limit": "1000",
                                                  "sysparm_exclude_reference_link": "true"})
    assert r.status_code == 200, r.text
    return r.json()["result"]


RECIPE_TABLES = ("oauth_entity", "oauth_entity_profile", "sys_user", "sys_user_role", "sys_user_role_contains",
                 "sys_user_has_role", "sys_properties", "sys_rest_message",
                 "sys_rest_message_fn", "sys_rest_message_fn_headers", "sys_rest_message_fn_param_defs",
                 "sys_script")


def recipe_state(srv):
    """Every record of the recipe's tables, with when it last changed (ACLs read offline: they
    are not readable over REST without elevation)."""
    got = {t: sorted((r["sys_id"], r["sys_updated_on"]) for r in table(srv, t, "", "sys_id,sys_updated_on"))
           for t in RECIPE_TABLES}
    got["sys_security_acl"] = sorted((r["sys_id"], r["sys_updated_on"]) for r in json.loads(
        nowctl(srv, "--json", "table", "list", "sys_security_acl", "--limit", "10000", offline=True).stdout))
    return got


ORGS = [
    {"id": 1, "name": "Acme Dental", "ci_mapping": {"WINDOWS_WORKSTATION": "cmdb_ci_computer",
                                                    "LINUX_SERVER": "cmdb_ci_linux_server"},
     "allow_incidents": True},
    {"id": 2, "name": "Bolt Legal", "ci_mapping": {"WINDOWS_SERVER": "cmdb_ci_win_server"},
     "allow_incidents": False},
    {"id": 3, "name": "Cobalt Labs", "allow_incidents": True},
]
DEVICES = [
    {"id": 101, "organization": 1, "name": "acme-ws-01", "serial": "SN-ACME-0001", "role": "WINDOWS_WORKSTATION"},
    {"id": 102, "organization": 1, "name": "acme-db", "role": "LINUX_SERVER"},
    {"id": 201, "organization": 2, "name": "bolt-dc", "serial": "SN-BOLT-0001", "role": "WINDOWS_SERVER"},
]


def test_rmm_end_to_end(product, tmp_path):
    srv = Server(demo=False)
    try:
        nowctl(srv, "property", "set", "snowglobe.outbound.backoff_base_ms", "200", offline=True)
        # -- the recipe, twice: the same state
        password = setup_sh(srv, product, str(tmp_path))
        first = recipe_state(srv)
        again = setup_sh(srv, product, str(tmp_path))
        assert again == password and recipe_state(srv) == first
        assert len(product.tokens) == 2  # each run's Get OAuth Token reached the product

        ns = Nowsync(str(tmp_path), password)
        # -- the product's side: connect.sh (connection, profile, integration, back-sync), twice
        for _ in range(2):
            r = ns.connect(srv, product, str(tmp_path), STATE="inactive")
            assert password not in r.stdout + r.stderr
        assert "integration on ninja: inactive" in r.stdout

        # -- inactive: organizations are listed, not synced; a manual mapping is confirmed
        out = ns.lines("rmm", "orgs", "ninja", records=ORGS).stdout
        assert "3 organizations: 0 active, 0 pending, 0 in queue, 0 deleted, 3 inactive" in out
        r = ns("rmm", "map", "ninja", "1", "--company", "Acme Dental Inc", "--ci-mapping",
               "WINDOWS_WORKSTATION=cmdb_ci_computer,LINUX_SERVER=cmdb_ci_linux_server", "--allow-incidents", "yes")
        assert r.stdout.strip() == (
            "Organization 1 (Acme Dental) will sync to company Acme Dental Inc with CI mapping "
            "WINDOWS_WORKSTATION=cmdb_ci_computer,LINUX_SERVER=cmdb_ci_linux_server, incidents allowed: "
            "status pending until the next nowsync rmm sync.")
        ns("rmm", "sync", "ninja")
        st = {o["org_id"]: o for o in ns.state()["organizations"]}
        assert [st[k]["status"] for k in "123"] == ["active", "inactive", "inactive"]
        # nowd has CSM's customer_account (found in its dictionary): the company is an account
        acme = table(srv, "core_company", "name=Acme Dental Inc", "sys_id,sys_class_name,sys_created_by")
        assert len(acme) == 1 and acme[0]["sys_class_name"] == "customer_account", acme
        assert acme[0]["sys_created_by"] == "ninja.api" and st["1"]["company_sys_id"] == acme[0]["sys_id"]
        assert st["1"]["company_table"] == "customer_account"

        # -- active: every organization syncs; manual add refused, saying why
        ns("rmm", "integration", "ninja", "active", "--profile", "ninja-alerts")
        r = ns("rmm", "map", "ninja", "2", "--company", "X", "--ci-mapping", "A=cmdb_ci_computer",
               "--allow-incidents", "yes", ok=False)
        assert r.returncode == 1 and "is active: every organization syncs automatically, and manual " \
            "mappings are not offered" in r.stderr, r.stderr
        assert [o["status"] for o in ns.state()["organizations"]] == ["active", "in queue", "in queue"]
        # the product's next listing (org 3 deleted meanwhile) syncs at once, by itself
        out = ns.lines("rmm", "orgs", "ninja", records=ORGS[:2] + [dict(ORGS[2], deleted=True)]).stdout
        assert "3 organizations: 1 active, 0 pending, 1 in queue, 1 deleted, 0 inactive" in out, out
        assert "organization 2: active (customer_account " in out, out
        assert ns("rmm", "sync", "ninja").stdout == ""  # nothing left waiting
        st = {o["org_id"]: o for o in ns.state()["organizations"]}
        assert [st[k]["status"] for k in "123"] == ["active", "active", "deleted"]
        assert table(srv, "core_company", "name=Bolt Legal", "sys_id")[0]["sys_id"] == st["2"]["company_sys_id"]
        assert not table(srv, "core_company", "name=Cobalt Labs", "sys_id")
        # the manual mapping keeps the company the admin chose, active too
        assert st["1"]["company"] == "Acme Dental Inc"

        # -- devices through the IRE: renamed and re-sent, never a second CI
        ns.lines("rmm", "devices", "ninja", records=DEVICES)
        out = ns("rmm", "sync", "ninja").stdout
        assert out.count("(INSERT)") == 3, out
        devs = {d["device_id"]: d for d in ns.state()["devices"]}
        ws = table(srv, "cmdb_ci", "serial_number=SN-ACME-0001", "sys_id,name,sys_class_name")
        assert ws == [{"sys_id": devs["101"]["ci_sys_id"], "name": "acme-ws-01", "sys_class_name": "cmdb_ci_computer"}]
        assert table(srv, "cmdb_ci", "serial_number=rmm-device-102", "sys_class_name") == [
            {"sys_class_name": "cmdb_ci_linux_server"}]
        renamed = [dict(DEVICES[0], name="acme-ws-01-renamed"), dict(DEVICES[1], name="acme-db-2")] + DEVICES[2:]
        ns.lines("rmm", "devices", "ninja", records=renamed)
        out = ns("rmm", "sync", "ninja").stdout
        assert out.count("(UPDATE)") == 2 and "device 201" not in out, out
        ns.lines("rmm", "devices", "ninja", records=renamed)
        assert ns("rmm", "sync", "ninja").stdout == ""  # unchanged: nothing sent
        assert table(srv, "cmdb_ci", "serial_number=SN-ACME-0001", "sys_id,name") == [
            {"sys_id": devs["101"]["ci_sys_id"], "name": "acme-ws-01-renamed"}]
        assert len(table(srv, "cmdb_ci", "nameSTARTSWITHacme-", "sys_id")) == 2

        # -- alerts: incidents for an organization that allows them, dropped (with why) otherwise
        alerts = [{"id": "a1", "device": 101, "status": "firing", "summary": "Disk C: 97% full",
                   "severity": "critical", "occurred_at": 1780000000},
                  {"id": "a2", "device": 102, "status": "firing", "summary": "CPU high", "severity": "major",
                   "occurred_at": 1780000001},
                  {"id": "b1", "device": 201, "status": "firing", "summary": "Backup failed",
                   "occurred_at": 1780000002}]
        r = ns.lines("rmm", "alerts", "ninja", records=[alerts[0], alerts[2]])
        assert "alert b1 dropped: organization 2 does not allow incidents" in r.stderr, r.stderr
        assert "1 accepted, 0 duplicates, 1 dropped, 0 refused" in r.stderr
        assert ns.lines("rmm", "alerts", "ninja", records=alerts[:1]).stdout.count('"duplicate"') == 1
        assert [(d["alert_id"], d["org_id"], d["reason"]) for d in ns.state()["dropped"]] == [
            ("b1", "2", "organization 2 does not allow incidents")]
        # the product's webhook: POST /v1/rmm/alerts on `nowsync serve`, whose workers deliver
        token = ns("token", "create", "ninja-rmm", "--connection", "ninja").stdout.strip()
        port = free_port()
        log = open(os.path.join(str(tmp_path), "serve.log"), "w")
        serve = subprocess.Popen([os.path.join(BIN, "nowsync"), "--data", ns.data, "--profiles", ns.profiles,
                                  "serve", "--port", str(port)], stdout=log, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}/v1/rmm/alerts"
            assert wait_for(lambda: b"listening" in open(log.name, "rb").read(), timeout=20)
            hdr = {"Authorization": "Bearer " + token}
            bad = requests.post(url, json=[alerts[1], {"id": "x", "device": 101, "status": "on"}], headers=hdr)
            assert bad.status_code == 400 and bad.json() == {"error": {
                "message": "Invalid alert", "detail": "alerts[1].status: missing or malformed"}, "status": "failure"}
            assert requests.post(url, json=alerts[1]).status_code == 401
            ok = requests.post(url, json=[alerts[1], alerts[2]], headers=hdr)
            assert ok.status_code == 202, ok.text
            assert [(x["alert"], x["result"]) for x in ok.json()["results"]] == [("a2", "accepted"), ("b1", "dropped")]
            assert wait_for(lambda: len(table(srv, "incident", "correlation_idSTARTSWITHninja:", "sys_id")) == 2,
                            timeout=30)
        finally:
            serve.terminate()
            assert serve.wait(timeout=30) == 0
            log.close()
        ns("run", "--wait", "--timeout", "30")
        incs = table(srv, "incident", "correlation_idSTARTSWITHninja:^ORDERBYshort_description",
                     "sys_id,number,short_description,company,cmdb_ci,sys_created_by,impact")
        assert [(i["short_description"], i["company"], i["cmdb_ci"], i["sys_created_by"]) for i in incs] == [
            ("CPU high", st["1"]["company_sys_id"], devs["102"]["ci_sys_id"], "ninja.api"),
            ("Disk C: 97% full", st["1"]["company_sys_id"], devs["101"]["ci_sys_id"], "ninja.api")]
        assert not table(srv, "incident", "short_description=Backup failed", "sys_id")

        # -- closed states back to the product: by poll (nowsync) and by push (nowd's rule)
        by_admin = srv.post("/api/now/table/incident", json={"short_description": "not the API user's"})
        assert by_admin.status_code == 201
        for inc, state in ((incs[0], "6"), (incs[1], "8")):
            body = {"state": state, "close_code": "Solution provided", "close_notes": "done"}
            assert srv.patch(f"/api/now/table/incident/{inc['sys_id']}", json=body).status_code == 200
        srv.patch(f"/api/now/table/incident/{by_admin.json()['result']['sys_id']}",
                  json={"state": "8"})
        want = {(incs[0]["number"], "6"), (incs[1]["number"], "8")}
        assert wait_for(lambda: {(p["number"], p["state"]) for p in product.pushed} >= want, timeout=20), \
            product.pushed
        assert {p["sys_id"] for p in product.pushed} == {i["sys_id"] for i in incs}

        def polled_closed():
            ns("backsync", "run", "--once", "ninja", "--quiet", ok=False)
            with product.lock:
                return {(e["record"]["number"], e["state"]) for e in product.polled if e["closed"]}
        assert wait_for(lambda: polled_closed() >= want, timeout=20), product.polled
        assert polled_closed() == want  # the admin's own incident is not the API user's
    finally:
        srv.stop()


def test_rmm_without_the_api_users_roles(product, tmp_path):
    """The recipe with step 2b (roles and ACLs of the API user) left out."""
    srv = Server(demo=False)
    try:
        password = setup_sh(srv, product, str(tmp_path), skip="2b")
        ns = Nowsync(str(tmp_path), password)
        ns("connection", "add", "ninja", "--instance", srv.url, "--user", "ninja.api", "--auth", "basic",
           "--no-test")
        r = ns("connection", "test", "ninja", "--json", ok=False)
        diag = json.loads(r.stdout)
        assert (r.returncode, diag["failed_step"]) == (19, "capabilities"), r.stdout
        # named: the roles that grant what is refused
        assert diag["capabilities"]["incident"]["read"] == {
            "state": "refused", "note": diag["capabilities"]["incident"]["read"]["note"],
            "granted_by": "role itil (or snc_internal: own incidents only)"}
        assert diag["capabilities"]["cmdb_ci"]["read"]["granted_by"] == "role cmdb_read (or itil)"
        assert diag["capabilities"]["sys_dictionary"]["read"]["state"] == "refused"
        ns("rmm", "integration", "ninja", "active", "--profile", "ninja-alerts")
        r = ns.lines("rmm", "orgs", "ninja", records=ORGS[:1], ok=False)  # the first sync
        assert r.returncode == 1
        assert "organization 1 not synced (in queue): HTTP 403" in r.stderr, r.stderr
        assert "grant the API user create and write on customer_account" in r.stderr, r.stderr
        assert ns.state()["organizations"][0]["status"] == "in queue"
    finally:
        srv.stop()
