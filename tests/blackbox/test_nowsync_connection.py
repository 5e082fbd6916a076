"""nowsync connections against a real nowd: add/list/show/remove, secrets sealed at rest, the
step-by-step diagnosis (each failing step with its own exit status and causes), the capability
matrix per account, and a token the instance revoked being replaced without the caller seeing it."""
import http.server
import json
import os
import socket
import stat
import subprocess
import threading

import pytest

from conftest import BIN, PASSWORD, Server, free_port, nowctl

NOWSYNC = os.path.join(BIN, "nowsync")
CC_PROPERTY = "glide.oauth.inbound.client.credential.grant_type.enabled"


def run(data, *args, secrets=None, env=None, stdin=None):
    """nowsync --data DATA ARGS; secrets (a dict) go to --secrets-stdin."""
    e = dict(os.environ)
    for k in ("NOWSYNC_CLIENT_SECRET", "NOWSYNC_PASSWORD", "NOWSYNC_REFRESH_TOKEN", "NOWSYNC_KEY"):
        e.pop(k, None)
    e.update(env or {})
    cmd = [NOWSYNC, "--data", str(data), *args]
    if secrets is not None:
        cmd.append("--secrets-stdin")
        stdin = "".join(f"{k}={v}\n" for k, v in secrets.items())
    r = subprocess.run(cmd, capture_output=True, text=True, input=stdin or "", env=e, timeout=120)
    assert "Sanitizer" not in r.stderr and "runtime error" not in r.stderr, r.stderr
    return r


def diag(r):
    """The --json diagnosis printed by r."""
    return json.loads(r.stdout)


def step(report, name):
    return next(s for s in report["steps"] if s["step"] == name)


def oauth_app(server, name, *args):
    out = json.loads(nowctl(server, "--json", "oauth", "add", name, *args).stdout)
    return out["client_id"], out["client_secret"]


# ---- connections and their secrets -----------------------------------------------------


def test_add_list_show_remove_and_secrets_sealed(server, tmp_path):
    data = tmp_path / "ns"
    r = run(data, "connection", "add", "main", "--instance", server.url + "/", "--user", "admin",
            secrets={"password": PASSWORD})
    assert r.returncode == 0, r.stdout + r.stderr
    assert "OK" in r.stdout and "saved" in r.stderr
    # the state: a database of its own, the key beside it (0600), the password sealed
    key = data / "keys" / "nowsync.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and key.stat().st_size == 32
    raw = (data / "nowsync.db").read_bytes()
    assert PASSWORD.encode() not in raw and b"$sg1$" in raw
    r = run(data, "connection", "list", "--json")
    rows = json.loads(r.stdout)
    assert [(c["name"], c["instance"], c["auth"]) for c in rows] == [("main", server.url, "basic")]
    r = run(data, "connection", "show", "main", "--json")
    shown = json.loads(r.stdout)
    assert shown["password_set"] is True and shown["user"] == "admin"
    assert PASSWORD not in r.stdout + r.stderr
    r = run(data, "connection", "show", "main")
    assert "sealed; never shown" in r.stdout and PASSWORD not in r.stdout
    # the same name twice is refused; a secret on the command line is not an option
    r = run(data, "connection", "add", "main", "--instance", server.url, "--user", "admin", "--no-test",
            secrets={"password": PASSWORD})
    assert r.returncode == 1 and "exists" in r.stderr
    r = run(data, "connection", "add", "x", "--instance", server.url, "--user", "admin", "--password", "p")
    assert r.returncode == 2
    # no secret anywhere: refused with where to give it, nothing saved
    r = run(data, "connection", "add", "nosecret", "--instance", server.url, "--user", "admin")
    assert r.returncode == 2 and "never on the command line" in r.stderr
    # another key cannot open the secrets
    other = run(data, "connection", "show", "main", env={"NOWSYNC_KEY": "A" * 43 + "="})
    assert other.returncode == 1 and PASSWORD not in other.stdout + other.stderr
    assert run(data, "connection", "remove", "main").returncode == 0
    assert json.loads(run(data, "connection", "list", "--json").stdout) == []
    assert run(data, "connection", "remove", "main").returncode == 1


def test_instance_forms(tmp_path):
    data = tmp_path / "ns"
    for name, given, want in [("sub", "dev12345", "https://dev12345.service-now.com"),
                              ("host", "sn.example.org", "https://sn.example.org"),
                              ("full", "https://acme.service-now.com/", "https://acme.service-now.com")]:
        r = run(data, "connection", "add", name, "--instance", given, "--user", "u", "--no-test",
                secrets={"password": "p"})
        assert r.returncode == 0, r.stderr
        assert json.loads(run(data, "connection", "show", name, "--json").stdout)["instance"] == want
    for bad in ["ftp://x", "dev 1", "http://", "a/b", "https://user:secret@acme.service-now.com"]:
        r = run(data, "connection", "add", "bad", "--instance", bad, "--user", "u", "--no-test",
                secrets={"password": "p"})
        assert r.returncode == 2, bad


# ---- the network steps ----------------------------------------------------------------------


def test_dns_failure(tmp_path):
    r = run(tmp_path / "ns", "connection", "add", "d", "--instance", "http://nowsync-test.invalid",
            "--user", "u", "--json", secrets={"password": "p"})
    assert r.returncode == 10, r.stdout + r.stderr
    rep = diag(r)
    assert rep["failed_step"] == "dns" and "misspelt" in " ".join(step(rep, "dns")["causes"])
    assert "NOT saved" in r.stderr
    assert json.loads(run(tmp_path / "ns", "connection", "list", "--json").stdout) == []


def test_tcp_refused(tmp_path):
    port = free_port()  # bound once and released: nothing listens there
    r = run(tmp_path / "ns", "connection", "add", "t", "--instance", f"http://127.0.0.1:{port}",
            "--user", "u", "--json", secrets={"password": "p"})
    assert r.returncode == 11, r.stdout + r.stderr
    rep = diag(r)
    assert rep["failed_step"] == "tcp" and step(rep, "dns")["state"] == "ok"
    assert any("firewall" in c for c in step(rep, "tcp")["causes"])


def test_tls_certificate(tmp_path):
    tls = Server(demo=False, tls=True)
    try:
        data = tmp_path / "ns"
        r = run(data, "connection", "add", "t", "--instance", tls.url, "--user", "admin", "--json",
                secrets={"password": PASSWORD})
        assert r.returncode == 12, r.stdout + r.stderr
        rep = diag(r)
        assert rep["failed_step"] == "tls" and any("--ca-file" in c for c in step(rep, "tls")["causes"])
        # its CA given: verified
        r = run(data, "connection", "add", "t", "--instance", tls.url, "--user", "admin",
                "--ca-file", tls.cert, "--json", secrets={"password": PASSWORD})
        assert r.returncode == 0, r.stdout + r.stderr
        assert step(diag(r), "tls")["state"] == "ok"
        # --insecure works, loudly
        r = run(data, "connection", "add", "i", "--instance", tls.url, "--user", "admin", "--insecure",
                secrets={"password": PASSWORD})
        assert r.returncode == 0 and "WARNING" in r.stderr and "INSECURE" in r.stdout
        assert "INSECURE" in run(data, "connection", "list").stdout
    finally:
        tls.stop()


class _Hibernating(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"<html><head><title>Instance Hibernating page</title></head><body>Your instance is hibernating.</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html;charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, *a):
        pass


def test_not_servicenow_hibernating_page(tmp_path):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hibernating)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        url = f"http://127.0.0.1:{srv.server_address[1]}"
        r = run(tmp_path / "ns", "connection", "add", "h", "--instance", url, "--user", "u", "--json",
                secrets={"password": "p"})
        assert r.returncode == 14, r.stdout + r.stderr
        rep = diag(r)
        assert rep["failed_step"] == "instance" and "text/html" in step(rep, "instance")["detail"]
        assert any("hibernating" in c for c in step(rep, "instance")["causes"])
    finally:
        srv.shutdown()
        srv.server_close()


# ---- credentials --------------------------------------------------------------------------


def test_basic_auth_refused(server, tmp_path):
    r = run(tmp_path / "ns", "connection", "add", "b", "--instance", server.url, "--user", "admin", "--json",
            secrets={"password": "wrong-password"})
    assert r.returncode == 16, r.stdout + r.stderr
    rep = diag(r)
    assert rep["failed_step"] == "credentials"
    assert any("locked out" in c for c in step(rep, "credentials")["causes"])
    nowctl(server, "user", "unlock", "admin")


def test_client_credentials_chain(fresh, tmp_path):
    """Scenario 4: each thing an admin can get wrong, as the connector reports it."""
    data = tmp_path / "ns"
    nowctl(fresh, "user", "add", "cxm_integration", "--web-service-only", "--role", "rest_service", "--role", "itil")
    nowctl(fresh, "scope", "add", "cxm_api_access", "--api", "now/table")
    cid, secret = oauth_app(fresh, "cxm", "--grant", "client_credentials", "--user", "cxm_integration",
                            "--scope", "cxm_api_access", "--client-type", "integration_service")

    def test(name="cc", **over):
        s = {"client_secret": secret, **over}
        return run(data, "connection", "add", name, "--instance", fresh.url, "--auth", "client_credentials",
                   "--client-id", cid, "--json", secrets=s)

    # the grant's property is off on a new instance
    r = test()
    assert r.returncode == 15, r.stdout + r.stderr
    rep = diag(r)
    causes = " ".join(step(rep, "credentials")["causes"])
    assert rep["failed_step"] == "credentials" and CC_PROPERTY in causes
    assert "application user" in causes and "inactive" in causes
    fresh.set_property(CC_PROPERTY, "true")
    r = test()
    # itil reads no metadata tables: saved, with those refusals reported (exit 19)
    assert r.returncode == 19, r.stdout + r.stderr
    rep = diag(r)
    assert rep["failed_step"] == "capabilities" and step(rep, "api")["state"] == "ok"
    assert step(rep, "credentials")["state"] == "ok" and "cxm_api_access" in step(rep, "credentials")["detail"]
    assert rep["capabilities"]["incident"]["read"]["state"] == "allowed"
    assert secret not in r.stdout + r.stderr
    # wrong secret, application inactive, application user locked or inactive: refused, with
    # the causes ServiceNow hides behind its one 401
    r = test("cc2", client_secret="wrong")
    assert r.returncode == 15 and diag(r)["failed_step"] == "credentials"
    for breakit, fixit in [(("oauth", "disable", "cxm"), ("oauth", "enable", "cxm")),
                           (("user", "set", "cxm_integration", "locked_out=true"),
                            ("user", "set", "cxm_integration", "locked_out=false")),
                           (("user", "set", "cxm_integration", "active=false"),
                            ("user", "set", "cxm_integration", "active=true"))]:
        nowctl(fresh, *breakit)
        r = run(data, "connection", "test", "cc", "--json")
        nowctl(fresh, *fixit)
        assert r.returncode == 15, (breakit, r.stdout + r.stderr)
        assert diag(r)["failed_step"] == "credentials"
    assert run(data, "connection", "test", "cc").returncode == 19
    # the property off again: the saved connection's test names it
    fresh.set_property(CC_PROPERTY, "false")
    r = run(data, "connection", "test", "cc")
    assert r.returncode == 15 and CC_PROPERTY in r.stdout and "FAILED at step credentials" in r.stdout
    fresh.set_property(CC_PROPERTY, "true")
    # an application whose scope does not cover the Table API
    nowctl(fresh, "scope", "add", "stats_only", "--api", "now/stats")
    cid2, secret2 = oauth_app(fresh, "narrow", "--grant", "client_credentials", "--user", "cxm_integration",
                              "--scope", "stats_only")
    r = run(data, "connection", "add", "narrow", "--instance", fresh.url, "--client-id", cid2, "--json",
            secrets={"client_secret": secret2})
    assert r.returncode == 17, r.stdout + r.stderr
    rep = diag(r)
    assert rep["failed_step"] == "api" and "Missing required api access scope" in step(rep, "api")["detail"]
    assert step(rep, "credentials")["state"] == "ok"


def test_password_grant_narrowed(fresh, tmp_path):
    """Scenario 2: a refused password grant says whether the user or the client is at fault."""
    data = tmp_path / "ns"
    nowctl(fresh, "user", "add", "incident.io", "--machine", "--password", "Io-pass-12", "--role", "itil")
    cid, secret = oauth_app(fresh, "incident.io", "--grant", "password", "--scope", "useraccount")
    args = ["--instance", fresh.url, "--client-id", cid, "--user", "incident.io", "--json"]
    r = run(data, "connection", "add", "io", *args, secrets={"client_secret": secret, "password": "Io-pass-12"})
    assert r.returncode == 19, r.stdout + r.stderr  # itil: no metadata reads, saved all the same
    rep = diag(r)
    assert rep["auth"] == "password" and '"useraccount"' in step(rep, "credentials")["detail"]
    # the client secret wrong: the user's password is fine
    r = run(data, "connection", "add", "io2", *args, secrets={"client_secret": "wrong", "password": "Io-pass-12"})
    assert r.returncode == 15
    client_fault = " ".join(step(diag(r), "credentials")["causes"])
    assert "user name and password are good" in client_fault
    # the user locked out: basic refuses it too
    nowctl(fresh, "user", "set", "incident.io", "locked_out=true")
    r = run(data, "connection", "test", "io", "--json")
    assert r.returncode == 15
    user_fault = " ".join(step(diag(r), "credentials")["causes"])
    assert "refused with basic auth too" in user_fault and user_fault != client_fault
    nowctl(fresh, "user", "set", "incident.io", "locked_out=false")
    # the application deactivated
    nowctl(fresh, "oauth", "disable", "incident.io")
    r = run(data, "connection", "test", "io", "--json")
    assert r.returncode == 15 and "application is inactive" in " ".join(step(diag(r), "credentials")["causes"])
    nowctl(fresh, "oauth", "enable", "incident.io")
    assert run(data, "connection", "test", "io").returncode == 19


# ---- the capability matrix -------------------------------------------------------------------


def test_capability_matrix_by_role(fresh, tmp_path):
    data = tmp_path / "ns"
    nowctl(fresh, "user", "add", "fulfiller", "--password", "Ful-pass-12", "--role", "itil")
    nowctl(fresh, "user", "add", "norole", "--password", "Nor-pass-12")

    def matrix(name, user, password):
        r = run(data, "connection", "add", name, "--instance", fresh.url, "--user", user, "--probe-writes",
                "--json", secrets={"password": password})
        return r.returncode, diag(r)

    def cell(rep, table, op):
        return rep["capabilities"][table][op]["state"]

    code, admin = matrix("admin", "admin", PASSWORD)
    assert code == 0, admin
    for t, ops in admin["capabilities"].items():
        assert all(c["state"] == "allowed" for c in ops.values()), (t, ops)
    code, itil = matrix("itil", "fulfiller", "Ful-pass-12")
    assert code == 19 and itil["failed_step"] == "capabilities"
    assert [cell(itil, "incident", op) for op in ("read", "create", "write")] == ["allowed"] * 3
    assert cell(itil, "cmdb_ci", "read") == "allowed"
    assert cell(itil, "sys_db_object", "read") == "refused"
    assert "sys_db_object" in itil["capabilities"]["sys_db_object"]["read"]["granted_by"]
    # itil may not delete incidents: the probe record left behind is named
    assert "could not be deleted" in itil["capabilities"]["incident"]["create"]["note"]
    code, none = matrix("none", "norole", "Nor-pass-12")
    assert code == 19
    assert cell(none, "incident", "read") == "refused" and cell(none, "incident", "create") == "refused"
    assert "itil" in none["capabilities"]["incident"]["read"]["granted_by"]
    assert "No permission to read table 'incident'" in none["capabilities"]["incident"]["read"]["note"]
    assert cell(none, "cmdb_ci", "read") == "refused" and "cmdb_read" in none["capabilities"]["cmdb_ci"]["read"]["granted_by"]
    # only the records the itil account could not delete remain, all marked
    rows = fresh.get("/api/now/table/task", params={"sysparm_query": "short_descriptionLIKEnowsync capability probe",
                                                    "sysparm_fields": "sys_class_name"}).json()["result"]
    assert sorted(r["sys_class_name"] for r in rows) == ["incident", "task"]
    assert fresh.get("/api/now/table/core_company", params={
        "sysparm_query": "nameLIKEnowsync capability probe"}).json()["result"] == []
    # without --probe-writes nothing is written
    r = run(data, "connection", "test", "itil", "--json")
    assert diag(r)["capabilities"]["incident"]["create"]["state"] == "not probed"


# ---- the token lifecycle --------------------------------------------------------------------


def test_revoked_token_is_replaced(fresh, tmp_path):
    data = tmp_path / "ns"
    nowctl(fresh, "user", "add", "svc", "--password", "Svc-pass-12", "--role", "itil")
    cid, secret = oauth_app(fresh, "svc-app", "--grant", "password", "--scope", "useraccount")
    r = run(data, "connection", "add", "svc", "--instance", fresh.url, "--client-id", cid, "--user", "svc",
            secrets={"client_secret": secret, "password": "Svc-pass-12"})
    assert r.returncode == 19, r.stdout + r.stderr  # itil: saved, metadata reads refused
    api = ["api", "svc", "GET", "/api/now/table/incident?sysparm_limit=1&sysparm_fields=number"]
    r = run(data, *api)
    assert r.returncode == 0 and "HTTP 200" in r.stderr and '"result"' in r.stdout
    before = fresh.output().count("/oauth_token.do")
    # the stored token is reused by the next process: no token request
    assert run(data, *api).returncode == 0
    assert fresh.output().count("/oauth_token.do") == before
    # the instance revokes every token of the app: the caller sees no error
    nowctl(fresh, "token", "revoke", "--app", "svc-app")
    r = run(data, *api)
    assert r.returncode == 0, r.stderr
    assert "HTTP 200" in r.stderr and "refused" not in r.stderr
    log = fresh.output()
    assert log.count("/oauth_token.do") > before
    # a POST through the connection works too, as the service account
    r = run(data, "api", "svc", "POST", "/api/now/table/incident?sysparm_fields=sys_created_by",
            stdin='{"short_description":"from nowsync"}')
    assert r.returncode == 0 and json.loads(r.stdout)["result"]["sys_created_by"] == "svc"
    # debug logging shows the exchanges, never a secret or a token
    nowctl(fresh, "token", "revoke", "--app", "svc-app")
    r = run(data, *api, env={"NOWSYNC_DEBUG": "1"})
    assert r.returncode == 0 and "oauth_token.do" in r.stderr, r.stderr
    assert secret not in r.stderr and "Svc-pass-12" not in r.stderr
    assert not any(len(w) >= 80 and w.replace("-", "").replace("_", "").isalnum() for w in r.stderr.split())
    # the password changed on the instance too: a clear error, not a loop
    nowctl(fresh, "token", "revoke", "--app", "svc-app")
    nowctl(fresh, "user", "set-password", "svc", "--password", "Other-pass-34")
    r = run(data, *api)
    assert r.returncode == 1 and "refused the password grant" in r.stderr
    assert "Svc-pass-12" not in r.stderr + r.stdout


def test_refresh_token_only_and_client_credentials(fresh, tmp_path):
    data = tmp_path / "ns"
    nowctl(fresh, "user", "add", "rt", "--password", "Rt-pass-1234", "--role", "itil")
    cid, secret = oauth_app(fresh, "rt-app", "--grant", "password", "--scope", "useraccount")
    import requests
    tok = requests.post(fresh.url + "/oauth_token.do", data={
        "grant_type": "password", "client_id": cid, "client_secret": secret, "username": "rt",
        "password": "Rt-pass-1234"}).json()
    r = run(data, "connection", "add", "rt", "--instance", fresh.url, "--auth", "refresh_token",
            "--client-id", cid, "--json", secrets={"client_secret": secret, "refresh_token": tok["refresh_token"]})
    assert r.returncode == 19, r.stdout + r.stderr
    assert tok["refresh_token"] not in r.stdout + r.stderr
    assert run(data, "api", "rt", "GET", "/api/now/table/incident?sysparm_limit=1").returncode == 0
    # the refresh token revoked: nothing to fall back on, said plainly
    requests.post(fresh.url + "/oauth_revoke_token.do", params={"token": tok["refresh_token"]})
    r = run(data, "api", "rt", "GET", "/api/now/table/incident?sysparm_limit=1")
    assert r.returncode == 1 and "refresh_token grant" in r.stderr
    # client credentials: no refresh token, a new token fetched after revocation
    fresh.set_property(CC_PROPERTY, "true")
    nowctl(fresh, "user", "add", "m2m", "--web-service-only", "--role", "itil")
    cid2, secret2 = oauth_app(fresh, "m2m-app", "--grant", "client_credentials", "--user", "m2m")
    assert run(data, "connection", "add", "m2m", "--instance", fresh.url, "--client-id", cid2,
               secrets={"client_secret": secret2}).returncode == 19
    assert run(data, "api", "m2m", "GET", "/api/now/table/incident?sysparm_limit=1").returncode == 0
    nowctl(fresh, "token", "revoke", "--app", "m2m-app")
    r = run(data, "api", "m2m", "GET", "/api/now/table/incident?sysparm_limit=1")
    assert r.returncode == 0, r.stderr
