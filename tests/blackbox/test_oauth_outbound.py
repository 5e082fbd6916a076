"""Outbound OAuth (issue 15): an OAuth provider registered with nowctl, "Get OAuth Token" for each
grant against a stand-in provider (Python's http.server in a thread), the authorization-code
redirect through nowd's /oauth_redirect.do with PKCE, refresh before expiry and after a 401,
key rotation, and no secret in clear in the SQLite file, the log or a REST answer."""
import base64
import glob
import json
import os
import subprocess
import urllib.parse

import requests

from conftest import BIN, PASSWORD, nowctl, sqlite_only
from oauth_provider import CLIENT_SECRET, OWNER_PASSWORD, Provider

def run(srv, *args, stdin=None, ok=True, env=None):
    """nowctl offline on srv's data directory, with stdin."""
    e = dict(os.environ, NOWCTL_PASSWORD=PASSWORD, **(env or {}))
    e.pop("NOWCTL_INSTANCE", None)
    r = subprocess.run([os.path.join(BIN, "nowctl"), *srv.where, *args], input=stdin,
                       capture_output=True, text=True, env=e)
    if ok:
        assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r


def register(srv, name, prov, *extra):
    r = run(srv, "--json", "oauth", "provider", name, "--client-id", prov.client_id,
            "--token-url", prov.url + "/token", "--send-credentials", prov.send, *extra,
            stdin=CLIENT_SECRET + "\n")
    return json.loads(r.stdout)


def no_secret_anywhere(srv, prov):
    """Neither the client secret, the owner's password nor any token issued is in clear in
    the SQLite files, nowd's log, or a REST answer of oauth_entity / oauth_credential."""
    needles = [CLIENT_SECRET, OWNER_PASSWORD, *prov.issued]
    blobs = []
    for path in glob.glob(os.path.join(srv.data, "instance.db*")):
        with open(path, "rb") as f:
            blobs.append(f.read())
    blobs.append(srv.output().encode())
    for table in ("oauth_entity", "oauth_credential", "oauth_requestor_state", "oauth_entity_profile"):
        for dv in ("false", "all"):
            r = srv.get(f"/api/now/table/{table}", params={"sysparm_display_value": dv})
            assert r.status_code == 200, r.text
            blobs.append(r.content)
    for blob in blobs:
        for n in needles:
            assert n.encode() not in blob, n[:6]


def test_client_credentials_body_and_basic(fresh):
    body, basic = Provider("body"), Provider("basic", content_type="Application/JSON; Charset=UTF-8")
    try:
        a = register(fresh, "Vendor body", body, "--scope", "read", "--scope", "write")
        b = register(fresh, "Vendor basic", basic)
        assert a["profile_name"] == "Vendor body default_profile"
        # the default profile the instance made, with the scopes
        prof = fresh.get(f"/api/now/table/oauth_entity_profile/{a['profile']}").json()["result"]
        assert prof["grant_type"] == "client_credentials" and prof["default"] == "true"
        ent = fresh.get(f"/api/now/table/oauth_entity/{a['sys_id']}").json()["result"]
        assert ent["type"] == "oauth_provider" and ent["client_secret"] == "********"
        # Get OAuth Token: by provider name (its default profile) and by profile sys_id
        r = run(fresh, "--json", "oauth", "get-token", "Vendor body")
        got = json.loads(r.stdout)
        assert got["expires_in"] == 3600 and got["refresh_token"] is False and got["scope"] == "read write"
        run(fresh, "oauth", "get-token", b["profile"])
        assert body.grants == ["client_credentials"] and basic.grants == ["client_credentials"]
        creds = fresh.get("/api/now/table/oauth_credential",
                          params={"sysparm_query": "oauth_requestor_profile=" + a["profile"]}).json()["result"]
        assert len(creds) == 1 and creds[0]["type"] == "access_token" and creds[0]["peer"]["value"] == a["sys_id"]
        # the stored token is used while it is valid; a new one is got only when forced
        r1 = run(fresh, "oauth", "token", "Vendor body").stdout
        assert body.grants == ["client_credentials"]
        r2 = run(fresh, "oauth", "token", "Vendor body", "--force").stdout
        assert body.grants == ["client_credentials"] * 2 and r1 != r2
        # a provider that is not configured as it expects: the client is refused, clearly
        basic.send = "body"
        r = run(fresh, "oauth", "get-token", "Vendor basic", ok=False)
        assert r.returncode == 1 and "invalid_client" in r.stderr and "Client authentication failed" in r.stderr
        assert CLIENT_SECRET not in r.stderr + r.stdout
        no_secret_anywhere(fresh, body)
        no_secret_anywhere(fresh, basic)
    finally:
        body.stop()
        basic.stop()


def test_password_grant_then_refresh_before_expiry(fresh):
    prov = Provider()
    try:
        register(fresh, "Owner vendor", prov, "--grant", "password")
        # the password comes from stdin, never argv; a wrong one is the provider's refusal
        r = run(fresh, "oauth", "get-token", "Owner vendor", "--user", "owner", stdin="wrong\n", ok=False)
        assert r.returncode == 1 and "invalid_grant" in r.stderr
        r = run(fresh, "oauth", "get-token", "Owner vendor", "--user", "owner", stdin=OWNER_PASSWORD + "\n")
        assert "with a refresh token" in r.stdout
        r = run(fresh, "oauth", "get-token", "Owner vendor", ok=False)
        assert r.returncode == 2  # --user is needed
        # no token from a person yet: token works while valid, refreshes when due
        first = run(fresh, "oauth", "token", "Owner vendor").stdout
        assert prov.grants == ["password", "password"]
        prov.expires_in = 30  # under the 60 s skew: due at once
        run(fresh, "oauth", "token", "Owner vendor", "--force")  # as after a 401
        assert prov.grants[-1] == "refresh_token"
        n = len(prov.grants)
        again = run(fresh, "oauth", "token", "Owner vendor").stdout  # 30 s left < skew: refreshed
        assert len(prov.grants) == n + 1 and prov.grants[-1] == "refresh_token" and again != first
        prov.expires_in = 3600
        # the refresh token refused (revoked at the provider): a password profile needs a person
        prov.refresh.clear()
        r = run(fresh, "oauth", "token", "Owner vendor", "--force", ok=False)
        assert r.returncode == 1 and "Get OAuth Token" in r.stderr
        no_secret_anywhere(fresh, prov)
    finally:
        prov.stop()


def test_authorization_code_with_pkce_through_oauth_redirect(fresh):
    prov = Provider()
    try:
        register(fresh, "Browser vendor", prov, "--grant", "authorization_code", "--pkce", "S256",
                 "--auth-url", prov.url + "/authorize", "--redirect-url", fresh.url + "/oauth_redirect.do",
                 "--scope", "incidents")
        r = run(fresh, "--json", "oauth", "get-token", "Browser vendor")
        url = json.loads(r.stdout)["authorize_url"]
        q = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(url).query))
        assert q["response_type"] == "code" and q["client_id"] == prov.client_id
        assert q["redirect_uri"] == fresh.url + "/oauth_redirect.do" and q["scope"] == "incidents"
        assert q["code_challenge_method"] == "S256" and len(q["code_challenge"]) == 43 and q["state"]
        # the state is kept as its hash only
        rows = fresh.get("/api/now/table/oauth_requestor_state").json()["result"]
        assert len(rows) == 1 and q["state"] not in json.dumps(rows) and "code_verifier" not in rows[0]
        # the browser: the provider's authorize page redirects to nowd, which exchanges the code
        s = requests.Session()
        page = s.get(url, allow_redirects=False)
        assert page.status_code == 302
        back = page.headers["Location"]
        done = s.get(back)
        assert done.status_code == 200 and "OAuth token received" in done.text, done.text
        assert done.headers["Content-Type"].startswith("text/html")
        assert prov.grants == ["authorization_code"]
        code = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(back).query))["code"]
        assert code not in fresh.output()  # the access log masks it
        # the same redirect again, an unknown state, no state: refused, nothing asked of the provider
        for bad in (back, fresh.url + "/oauth_redirect.do?code=x&state=nope", fresh.url + "/oauth_redirect.do"):
            r = s.get(bad)
            assert r.status_code == 400 and "not received" in r.text
        assert prov.grants == ["authorization_code"]
        # a provider's refusal is shown
        r = run(fresh, "--json", "oauth", "get-token", "Browser vendor")
        state = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(json.loads(r.stdout)["authorize_url"]).query))["state"]
        r = s.get(fresh.url + "/oauth_redirect.do", params={"error": "access_denied", "state": state})
        assert r.status_code == 400 and "access_denied" in r.text
        # the token came with a refresh token: refreshed when forced
        run(fresh, "oauth", "token", "Browser vendor", "--force")
        assert prov.grants[-1] == "refresh_token"
        no_secret_anywhere(fresh, prov)
    finally:
        prov.stop()


def test_token_endpoint_failures_are_clear(fresh):
    prov = Provider()
    try:
        register(fresh, "Odd vendor", prov)
        prov.answer = (200, "text/html", "<html>login</html>")
        r = run(fresh, "oauth", "get-token", "Odd vendor", ok=False)
        assert r.returncode == 1 and "text/html, not a JSON token" in r.stderr
        prov.answer = (503, "text/plain", "down")
        r = run(fresh, "oauth", "get-token", "Odd vendor", ok=False)
        assert r.returncode == 1 and "HTTP 503" in r.stderr
        prov.answer = None
    finally:
        prov.stop()
    # the provider gone: unreachable, said so
    r = run(fresh, "oauth", "get-token", "Odd vendor", ok=False)
    assert r.returncode == 1 and "could not be reached" in r.stderr and CLIENT_SECRET not in r.stderr
    r = run(fresh, "oauth", "get-token", "No such vendor", ok=False)
    assert r.returncode == 1 and "no OAuth profile" in r.stderr


@sqlite_only("rotates the key files beside the database; the PostgreSQL runs give SNOWGLOBE_KEY, which does not rotate")
def test_keys_rotate_keeps_every_secret_usable(fresh):
    prov = Provider()
    try:
        register(fresh, "Rotated vendor", prov, "--grant", "password")
        run(fresh, "oauth", "get-token", "Rotated vendor", "--user", "owner", stdin=OWNER_PASSWORD + "\n")
        fresh.set_property("x_vendor.api.password", "x")
        r = fresh.post("/api/now/table/sys_properties", json={"name": "x_vendor.pw2", "type": "password2",
                                                              "value": "Prop-secret-value"})
        assert r.status_code == 201
        # an inbound client keeps working (its secret is a one-way hash)
        out = json.loads(nowctl(fresh, "--json", "oauth", "add", "inbound-app", "--grant", "password").stdout)
        before = sorted(os.listdir(os.path.join(fresh.data, "keys")))
        assert before == ["instance.key"]
        r = run(fresh, "--json", "keys", "rotate")
        rot = json.loads(r.stdout)
        assert rot["done"] and rot["resealed"] >= 4 and rot["old_keys_removed"] == 1
        after = sorted(os.listdir(os.path.join(fresh.data, "keys")))
        assert after == sorted([f"instance.{rot['key_id']}.key", "instance.current"])
        assert oct(os.stat(os.path.join(fresh.data, "keys", after[0])).st_mode & 0o777) == "0o600"
        # every stored value now names the new key
        import sqlite3
        db = sqlite3.connect(os.path.join(fresh.data, "instance.db"))
        vals = [v for (v,) in db.execute("SELECT token_received FROM oauth_credential WHERE token_received != ''")]
        vals += [v for (v,) in db.execute("SELECT client_secret FROM oauth_entity WHERE type = 'oauth_provider'")]
        vals += [v for (v,) in db.execute("SELECT value FROM sys_properties WHERE name = 'x_vendor.pw2'")]
        db.close()
        assert len(vals) >= 4 and all(v.startswith("$sg1$" + rot["key_id"] + "$") for v in vals)
        # the stored tokens, the client secret, the property: all still readable, offline and by nowd
        run(fresh, "oauth", "token", "Rotated vendor", "--force")
        assert prov.grants[-1] == "refresh_token"
        r = run(fresh, "--json", "property", "get", "x_vendor.pw2")
        assert json.loads(r.stdout)["value"].startswith("$sg1$" + rot["key_id"])
        t = requests.post(fresh.url + "/oauth_token.do", data={
            "grant_type": "password", "client_id": out["client_id"], "client_secret": out["client_secret"],
            "username": "admin", "password": PASSWORD})
        assert t.status_code == 200, t.text
        # a second rotation while nowd runs, then nowd writes a new sealed value and reads it
        rot2 = json.loads(run(fresh, "--json", "keys", "rotate").stdout)
        assert rot2["done"] and rot2["key_id"] != rot["key_id"]
        r = fresh.post("/api/now/table/sys_properties", json={"name": "x_vendor.pw3", "type": "password2",
                                                              "value": "Another-secret"})
        assert r.json()["result"]["value"].startswith("$sg1$" + rot2["key_id"] + "$")
        # SNOWGLOBE_KEY: refused, saying how
        key = base64.b64encode(b"k" * 32).decode()
        r = run(fresh, "keys", "rotate", ok=False, env={"SNOWGLOBE_KEY": key})
        assert r.returncode == 1 and "SNOWGLOBE_KEY" in r.stderr and "refused" in r.stderr
        no_secret_anywhere(fresh, prov)
    finally:
        prov.stop()
