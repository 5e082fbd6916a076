"""The console's "Get OAuth Token" (POST /api/now/ui/oauth/get_token, issue 20): what nowctl oauth
get-token does, for the admin, over HTTP, against the stand-in provider of test_oauth_outbound.py.
Each grant; each failure of the provider told apart (unreachable, its refusal with its status, an
answer that is no token); the admin's only; the owner's password in no log, file or answer."""
import json
import urllib.parse

import requests

from conftest import as_user, nowctl
from test_oauth_outbound import CLIENT_SECRET, OWNER_PASSWORD, Provider, no_secret_anywhere, register

PATH = "/api/now/ui/oauth/get_token"


def provider_by_rest(srv, name, prov, grant="client_credentials"):
    """An outbound provider made as the console's form makes it (Table API); its default profile
    is the instance's."""
    r = srv.post("/api/now/table/oauth_entity", json={
        "name": name, "type": "oauth_provider", "client_id": prov.client_id, "client_secret": CLIENT_SECRET,
        "token_url": prov.url + "/token", "default_grant_type": grant, "send_credentials": prov.send})
    assert r.status_code == 201, r.text
    return r.json()["result"]["sys_id"]


def failure(r, status):
    assert r.status_code == status, r.text
    body = r.json()
    assert body["status"] == "failure" and set(body["error"]) >= {"message", "detail"}, body
    return body["error"]


def test_client_credentials_by_the_providers_sys_id(fresh):
    prov = Provider()
    try:
        ent = provider_by_rest(fresh, "Console vendor", prov)
        r = fresh.post(PATH, json={"profile": ent})
        assert r.status_code == 200, r.text
        res = r.json()["result"]
        assert res["status"] == "success" and res["message"] == "OAuth token flow completed successfully"
        assert res["grant_type"] == "client_credentials" and res["expires_in"] == 3600
        assert res["refresh_token"] is False and len(res["expires"]) == 19
        assert prov.grants == ["client_credentials"]
        # stored where nowctl's would be: the profile's access token, its expiry as answered
        creds = fresh.get("/api/now/table/oauth_credential", params={"sysparm_query": "peer=" + ent}).json()["result"]
        assert len(creds) == 1 and creds[0]["type"] == "access_token" and creds[0]["expires"] == res["expires"]
        assert creds[0]["oauth_requestor_profile"]["value"] == res["profile"]
        # and nowctl sees a usable token without asking the provider again
        assert "is usable" in nowctl(fresh, "oauth", "token", "Console vendor", offline=True).stdout
        assert prov.grants == ["client_credentials"]
        assert not any(t in r.text for t in prov.issued)
        no_secret_anywhere(fresh, prov)
    finally:
        prov.stop()


def test_password_grant_takes_the_owners_password_once(fresh):
    prov = Provider()
    fresh.set_property("snowglobe.journal.bodies", "true")
    try:
        register(fresh, "Owner console", prov, "--grant", "password")
        e = failure(fresh.post(PATH, json={"profile": "Owner console"}), 400)
        assert "user name and password" in e["detail"] and prov.grants == []
        e = failure(fresh.post(PATH, json={"profile": "Owner console", "user_name": "owner", "password": "wrong"}), 502)
        assert e["reason"] == "refused" and e["provider_status"] == 400 and "invalid_grant" in e["detail"]
        r = fresh.post(PATH, json={"profile": "Owner console", "user_name": "owner", "password": OWNER_PASSWORD})
        assert r.status_code == 200, r.text
        assert r.json()["result"]["refresh_token"] is True and r.json()["result"]["grant_type"] == "password"
        assert prov.grants == ["password", "password"]
        # the request journal keeps bodies here, masked
        j = fresh.get("/_snowglobe/requests", params={"path": PATH}).json()["result"]
        assert len(j) == 3 and all(OWNER_PASSWORD not in json.dumps(x) for x in j)
        no_secret_anywhere(fresh, prov)
    finally:
        prov.stop()


def test_the_providers_failures_are_told_apart(fresh):
    prov = Provider()
    try:
        register(fresh, "Odd console", prov)
        prov.answer = (401, "application/json", json.dumps({"error": "invalid_client"}))
        e = failure(fresh.post(PATH, json={"profile": "Odd console"}), 502)
        assert e["reason"] == "refused" and e["provider_status"] == 401 and "invalid_client" in e["detail"]
        prov.answer = (200, "application/json", "{not json")
        e = failure(fresh.post(PATH, json={"profile": "Odd console"}), 502)
        assert e["reason"] == "bad_answer" and "not a JSON token" in e["detail"]
        prov.answer = (200, "text/html", "<html>sign in</html>")
        e = failure(fresh.post(PATH, json={"profile": "Odd console"}), 502)
        assert e["reason"] == "bad_answer" and "text/html" in e["detail"]
        prov.answer = None
    finally:
        prov.stop()
    e = failure(fresh.post(PATH, json={"profile": "Odd console"}), 502)
    assert e["reason"] == "unreachable" and "could not be reached" in e["detail"]
    assert CLIENT_SECRET not in e["detail"]
    # the instance's own refusals: no such profile, a host outside the allow-list (nothing sent)
    e = failure(fresh.post(PATH, json={"profile": "No such vendor"}), 404)
    assert "no OAuth profile" in e["detail"] and "reason" not in e
    fresh.set_property("snowglobe.outbound.allowed_hosts", "api.example.com")
    e = failure(fresh.post(PATH, json={"profile": "Odd console"}), 404)
    assert "allow-list" in e["detail"] and "reason" not in e
    failure(fresh.post(PATH, json={}), 400)
    failure(fresh.post(PATH, json={"profile": 7}), 400)
    failure(fresh.post(PATH, data="[", headers={"Content-Type": "application/json"}), 400)


def test_authorization_code_answers_the_authorize_url(fresh):
    prov = Provider()
    try:
        register(fresh, "Browser console", prov, "--grant", "authorization_code", "--pkce", "S256",
                 "--auth-url", prov.url + "/authorize", "--scope", "incidents")
        r = fresh.post(PATH, json={"profile": "Browser console"})
        assert r.status_code == 200, r.text
        res = r.json()["result"]
        assert res["status"] == "authorize" and prov.grants == []
        q = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(res["authorize_url"]).query))
        # no Redirect URL on the provider, no glide.servlet.uri: the instance as the browser reached it
        assert q["redirect_uri"] == fresh.url + "/oauth_redirect.do" and q["state"]
        s = requests.Session()
        page = s.get(res["authorize_url"], allow_redirects=False)
        done = s.get(page.headers["Location"])
        assert done.status_code == 200 and "OAuth token received" in done.text
        assert prov.grants == ["authorization_code"]
    finally:
        prov.stop()


def test_admin_only(fresh):
    """A web_service_admin reads the outbound log (the console's page) but gets no token."""
    nowctl(fresh, "user", "add", "wsadmin.tok", "--password", "Ws-pass-12345")
    nowctl(fresh, "role", "grant", "web_service_admin", "--user", "wsadmin.tok")
    call = as_user(fresh, "wsadmin.tok", "Ws-pass-12345")
    assert call("GET", "/api/now/table/sys_outbound_http_log").status_code == 200
    e = failure(call("POST", PATH, json={"profile": "anything"}), 403)
    assert e["message"] == "Insufficient rights" and "admin" in e["detail"]
    assert fresh.post(PATH, json={"profile": "anything"}).status_code == 404  # the admin: asked
