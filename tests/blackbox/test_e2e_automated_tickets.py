"""Scenario 4 end to end (issue 17): automated tickets with client credentials and a scoped token
(Cloud ex Machina-style).  examples/automated-tickets/setup.sh sets the instance up with nowctl
(twice: it is idempotent); nowsync connects with client credentials, tests the connection with the
two profiles (incidents and change requests), and `nowsync serve` turns the product's events into
tickets: the default assignment group, the default priority sent as impact and urgency (ServiceNow
computes priority), only the categories a profile lists.  Then the negative runs: each
troubleshooting case of the scenario made by undoing one set-up step with nowctl, and nowsync's
connection test naming it, with its exit status."""
import json
import os
import stat
import subprocess
import time

import requests

from conftest import BIN, PASSWORD, Server, free_port, nowctl

ROOT = os.path.join(os.path.dirname(__file__), "../..")
EXAMPLE = os.path.join(ROOT, "examples", "automated-tickets")
NOWSYNC = os.path.join(BIN, "nowsync")
CC_PROPERTY = "glide.oauth.inbound.client.credential.grant_type.enabled"
GROUP = "CXM Cloud Operations"
COUNTED = ("sys_user", "sys_user_has_role", "sys_user_role", "sys_auth_scope", "sys_api_access_scope",
           "oauth_entity", "oauth_entity_auth_scope", "sys_user_group", "sys_security_acl",
           "sys_security_acl_role", "sys_properties")


def ns(data, *args, stdin=""):
    e = {k: v for k, v in os.environ.items() if not k.startswith("NOWSYNC_")}
    r = subprocess.run([NOWSYNC, "--data", str(data), *args], capture_output=True, text=True, input=stdin,
                       env=e, timeout=120)
    assert "Sanitizer" not in r.stderr and "runtime error" not in r.stderr, r.stderr
    return r


def run_setup(srv, secrets):
    env = dict(os.environ, NOWCTL=os.path.join(BIN, "nowctl"), NOWCTL_INSTANCE=srv.url, NOWCTL_USER="admin",
               NOWCTL_PASSWORD=PASSWORD, SECRETS_OUT=str(secrets))
    env.pop("NOWCTL_DATA", None)
    r = subprocess.run(["sh", os.path.join(EXAMPLE, "setup.sh")], capture_output=True, text=True, env=env,
                       timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def counts(srv):
    out = {}
    for t in COUNTED:
        # through nowctl, which elevates for the ACL tables as the admin would
        out[t] = len(json.loads(nowctl(srv, "--json", "table", "list", t, "--limit", "10000").stdout))
    return out


def one(srv, table, query, fields=""):
    r = srv.get(f"/api/now/table/{table}", params={"sysparm_query": query, "sysparm_fields": fields})
    rows = r.json()["result"]
    return rows[0] if rows else None


def diagnose(data, conn="cxm", *extra):
    r = ns(data, "connection", "test", conn, "--json", "--profile", "cxm-incident", *extra)
    rep = json.loads(r.stdout)
    assert rep["exit_status"] == r.returncode
    return r.returncode, rep


def step(rep, name):
    return next(s for s in rep["steps"] if s["step"] == name)


def wait(pred, what, timeout=40):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.2)
    raise AssertionError("timed out waiting for " + what)


def test_automated_tickets_end_to_end(tmp_path):
    srv = Server(demo=False)
    serve = None
    try:
        # the admin elevates to security_admin for the security property and the ACLs
        srv.set_property("snowglobe.rest.allow_elevation", "true")

        # ---- the ServiceNow side: setup.sh, twice -------------------------------------------
        secrets = tmp_path / "cxm.secrets"
        run_setup(srv, secrets)
        assert stat.S_IMODE(secrets.stat().st_mode) == 0o600
        text = secrets.read_text()
        cid = text.split("client_id: ")[1].split()[0]
        secret = text.split("client_secret (shown once): ")[1].split()[0]
        before = counts(srv)
        run_setup(srv, secrets)
        assert counts(srv) == before and secrets.read_text() == text
        user = one(srv, "sys_user", "user_name=cxm_integration", "sys_id,active,web_service_access_only")
        assert user["active"] == "true" and user["web_service_access_only"] == "true"
        roles = {r["role"]["display_value"] for r in srv.get(
            "/api/now/table/sys_user_has_role", params={"sysparm_query": f"user={user['sys_id']}",
                                                        "sysparm_display_value": "all",
                                                        "sysparm_fields": "role"}).json()["result"]}
        assert {"rest_service", "itil"} <= roles
        app = one(srv, "oauth_entity", "name=cxm_tickets", "sys_id,active,oauth_user,default_grant_type")
        assert app["active"] == "true" and app["oauth_user"]["value"] == user["sys_id"]
        assert one(srv, "sys_properties", f"name={CC_PROPERTY}", "value")["value"] == "true"
        group = one(srv, "sys_user_group", f"name={GROUP}", "sys_id")["sys_id"]

        # ---- the product side: connection (tested before it is saved), profiles --------------
        data = tmp_path / "ns"
        env = {k: v for k, v in os.environ.items() if not k.startswith("NOWSYNC_")}
        env.update(NOWSYNC=NOWSYNC, NOWSYNC_DATA=str(data))
        r = subprocess.run(["sh", os.path.join(EXAMPLE, "connect.sh"), srv.url, str(secrets)],
                           capture_output=True, text=True, env=env, timeout=120)
        assert r.returncode == 0 and r.stdout.endswith("OK\n"), r.stdout + r.stderr
        assert "saved" in r.stderr and secret not in r.stdout + r.stderr
        assert (data / "profiles" / "cxm-change.json").exists()
        r = ns(data, "connection", "test", "cxm", "--json", "--profile", "cxm-incident", "--profile",
               "cxm-change")
        rep = json.loads(r.stdout)
        assert r.returncode == 0 and rep["diagnosis"] is None, r.stdout
        assert "cxm_api_access" in step(rep, "credentials")["detail"]
        assert set(rep["capabilities"]) == {"incident", "change_request", "sys_user_group", "sys_db_object",
                                            "sys_dictionary", "sys_choice"}
        assert step(rep, "profiles")["state"] == "ok"
        for p in ("cxm-incident", "cxm-change"):
            r = ns(data, "profile", "check", p)
            assert r.returncode == 0, r.stdout + r.stderr

        # ---- events: listed categories become tickets, another creates nothing ----------------
        tok_inc = ns(data, "token", "create", "cxm-inc", "--connection", "cxm", "--profile",
                     "cxm-incident").stdout.strip()
        tok_chg = ns(data, "token", "create", "cxm-chg", "--connection", "cxm", "--profile",
                     "cxm-change").stdout.strip()
        port = free_port()
        serve = subprocess.Popen([NOWSYNC, "--data", str(data), "serve", "--port", str(port), "--workers", "1"],
                                 stdout=subprocess.DEVNULL, stderr=open(tmp_path / "serve.log", "w"))
        wait(lambda: '"msg":"listening"' in open(tmp_path / "serve.log").read(), "serve to listen")
        url = f"http://127.0.0.1:{port}/v1/events"

        def post(tok, key, category, status="firing", severity=None, summary=None):
            ev = {"key": key, "status": status, "summary": summary or f"{category} on {key}",
                  "labels": {"category": category, "account": "acct-1", "resource": key},
                  "fields": {"detail": "found by the product", "saving": "$120"}}
            if severity:
                ev["severity"] = severity
            r = requests.post(url, json=ev, headers={"Authorization": "Bearer " + tok}, timeout=30)
            assert r.status_code == 202, r.text

        post(tok_inc, "cost-1", "cost_anomaly")
        post(tok_inc, "sec-1", "security", severity="critical")
        post(tok_inc, "tag-1", "tagging")
        post(tok_chg, "rs-1", "rightsizing")
        post(tok_chg, "sec-2", "security")
        fields = "sys_id,number,impact,urgency,priority,assignment_group,sys_created_by,state,type,close_code"
        cost = wait(lambda: one(srv, "incident", "correlation_id=cxm:cost-1", fields), "the cost incident")
        sec = wait(lambda: one(srv, "incident", "correlation_id=cxm:sec-1", fields), "the security incident")
        chg = wait(lambda: one(srv, "change_request", "correlation_id=cxm-chg:rs-1", fields), "the change")
        # default priority 3 = impact 2 x urgency 2; severity critical overrides it: 1 x 1 = 1
        assert (cost["impact"], cost["urgency"], cost["priority"]) == ("2", "2", "3")
        assert (sec["impact"], sec["urgency"], sec["priority"]) == ("1", "1", "1")
        assert chg["number"].startswith("CHG") and chg["type"] == "normal"
        assert (chg["impact"], chg["urgency"]) == ("2", "3")
        for rec in (cost, sec, chg):
            assert rec["assignment_group"]["value"] == group
            assert rec["sys_created_by"] == "cxm_integration"

        # an unlisted category: nothing created, the trace and the metrics say why
        def filtered(key, profile):
            t = ns(data, "trace", key, "--profile", profile, "--json")
            return t.returncode == 0 and any(e.get("kind") == "filtered" for e in json.loads(t.stdout)["entries"]) \
                and json.loads(t.stdout)
        tr = wait(lambda: filtered("tag-1", "cxm-incident"), "tag-1 to be filtered")
        why = next(e for e in tr["entries"] if e["kind"] == "filtered")["detail"]
        assert 'category "tagging" is not one profile cxm-incident creates tickets for' in why
        wait(lambda: filtered("sec-2", "cxm-change"), "sec-2 to be filtered")
        metrics = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=30).text
        assert 'nowsync_events_filtered_total{profile="cxm-incident"} 1' in metrics
        assert 'nowsync_events_filtered_total{profile="cxm-change"} 1' in metrics
        assert one(srv, "incident", "correlation_idLIKEtag-1", "sys_id") is None
        assert one(srv, "change_request", "correlation_idLIKEsec-2", "sys_id") is None

        # resolving: the incident goes to Resolved, the change to Closed with its close code
        post(tok_inc, "cost-1", "cost_anomaly", status="resolved")
        post(tok_chg, "rs-1", "rightsizing", status="resolved")
        wait(lambda: one(srv, "incident", "correlation_id=cxm:cost-1", "state")["state"] == "6", "resolved")
        done = wait(lambda: (lambda c: c if c["state"] == "3" else None)(
            one(srv, "change_request", "correlation_id=cxm-chg:rs-1", fields)), "the change closed")
        assert done["close_code"] == "successful"
        serve.terminate()
        assert serve.wait(timeout=60) == 0
        log = open(tmp_path / "serve.log").read()
        assert "Sanitizer" not in log and secret not in log
        serve = None

        # ---- NEGATIVE runs: one set-up step undone at a time ------------------------------------
        # Against a real instance every token refusal is the same 401: nowsync lists the causes.
        bad = ns(data, "connection", "add", "cxm-bad", "--instance", srv.url, "--auth", "client_credentials",
                 "--client-id", cid, "--no-test", "--secrets-stdin", stdin="client_secret=wrong-secret\n")
        assert bad.returncode == 0, bad.stderr
        code, rep = diagnose(data, "cxm-bad")
        assert (code, rep["diagnosis"], rep["failed_step"]) == (15, "token_refused", "credentials")
        causes = " ".join(step(rep, "credentials")["causes"])
        for c in ("wrong client id or client secret", "inactive", CC_PROPERTY, "OAuth application user",
                  "same 401 access_denied"):
            assert c in causes
        # nowd's opt-in extension names the cause; the body stays ServiceNow's
        r = requests.post(srv.url + "/oauth_token.do", data={"grant_type": "client_credentials",
                                                             "client_id": cid, "client_secret": "x"})
        assert r.status_code == 401 and "X-Snowglobe-Denial-Reason" not in r.headers
        nowctl(srv, "property", "set", "snowglobe.oauth.reveal_denial_reason", "true")  # security_admin
        r = requests.post(srv.url + "/oauth_token.do", data={"grant_type": "client_credentials",
                                                             "client_id": cid, "client_secret": "x"})
        assert r.status_code == 401 and r.json() == {"error_description": "access_denied", "error": "server_error"}
        assert r.headers["X-Snowglobe-Denial-Reason"] == "invalid_client"

        def case(undo, redo, want_code, want_diag, conn="cxm", extra=()):
            for args in undo:
                nowctl(srv, *args)
            code, rep = diagnose(data, conn, *extra)
            assert (code, rep["diagnosis"]) == (want_code, want_diag), json.dumps(rep, indent=1)
            for args in redo:
                nowctl(srv, *args)
            return rep

        # wrong id/secret
        rep = case([], [], 15, "invalid_client", conn="cxm-bad")
        assert step(rep, "credentials")["causes"][0].startswith("wrong client id or client secret")
        # the application inactive
        case([("oauth", "disable", "cxm_tickets")], [("oauth", "enable", "cxm_tickets")], 15,
             "application_inactive")
        # the client-credentials property disabled
        case([("property", "set", CC_PROPERTY, "false")], [("property", "set", CC_PROPERTY, "true")], 15,
             "client_credentials_disabled")
        # the application user deactivated
        case([("user", "set", "cxm_integration", "active=false")],
             [("user", "set", "cxm_integration", "active=true")], 15, "application_user_inactive")
        # token errors: OAuth itself off on the instance
        case([("property", "set", "com.snc.platform.security.oauth.is.active", "false")],
             [("property", "set", "com.snc.platform.security.oauth.is.active", "true")], 15, "oauth_inactive")
        # the application user lacks its roles
        rep = case([("role", "revoke", "itil", "--user", "cxm_integration")],
                   [("role", "grant", "itil", "--user", "cxm_integration")], 19, "roles_missing")
        assert rep["capabilities"]["incident"]["read"]["state"] == "refused"
        # the auth scope not linked to the application
        link = one(srv, "oauth_entity_auth_scope", "oauth_entity.name=cxm_tickets", "sys_id")["sys_id"]
        case([("table", "delete", "oauth_entity_auth_scope", link)],
             [("scope", "attach", "cxm_api_access", "--app", "cxm_tickets")], 17, "scope_missing")
        # 403: the scope covers the Table API for GET only, so creating is refused
        acc = one(srv, "sys_api_access_scope", "name=cxm_api_access", "sys_id")["sys_id"]
        rep = case([("table", "update", "sys_api_access_scope", acc, "apply_to_all_methods=false",
                     "http_methods=GET")],
                   [("table", "update", "sys_api_access_scope", acc, "apply_to_all_methods=true",
                     "http_methods=")], 17, "scope_missing", extra=("--probe-writes",))
        assert rep["failed_step"] == "capabilities"
        assert rep["capabilities"]["incident"]["read"]["state"] == "allowed"
        assert rep["capabilities"]["incident"]["create"]["state"] == "refused"
        # the assignment group missing (renamed away): the connection test and profile check say so
        rep = case([("table", "update", "sys_user_group", group, "name=CXM Cloud Ops (old)")], [], 20,
                   "assignment_group_missing")
        assert GROUP in step(rep, "profiles")["detail"]
        r = ns(data, "profile", "check", "cxm-change")
        assert r.returncode == 1 and GROUP in r.stdout, r.stdout + r.stderr
        nowctl(srv, "table", "update", "sys_user_group", group, f"name={GROUP}")
        shown = json.loads(ns(data, "profile", "show", "cxm-incident", "--json").stdout)
        assert shown["priority"] == "3"
        assert shown["categories"] == {"create": ["cost_anomaly", "security"], "from": "{{labels.category}}"}
        # and after every undo was redone, the connection is OK again
        code, rep = diagnose(data)
        assert code == 0 and rep["diagnosis"] is None, json.dumps(rep, indent=1)
    finally:
        if serve is not None:
            serve.kill()
            serve.wait()
        srv.stop()
