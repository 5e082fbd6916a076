"""The OAuth token service against each scenario's ServiceNow-side chain (reference 4.2-4.6)."""
import base64
import json
import re

import requests

from conftest import nowctl

DENIED = '{"error_description":"access_denied","error":"server_error"}'


def app(server, name, *args):
    out = json.loads(nowctl(server, "--json", "oauth", "add", name, *args).stdout)
    assert re.fullmatch(r"[0-9a-f]{32}", out["client_id"]) and len(out["client_secret"]) >= 32
    return out["client_id"], out["client_secret"]


def token(server, **form):
    return requests.post(server.url + "/oauth_token.do", data=form)


def bearer(server, tok, path, method="GET", **kw):
    return requests.request(method, server.url + path, headers={"Authorization": f"Bearer {tok}"}, **kw)


def test_cloud_ex_machina_chain(fresh):
    """Scenario 4: property, application user, auth scope, client credentials, troubleshooting."""
    nowctl(fresh, "user", "add", "cxm_integration", "--web-service-only", "--role", "rest_service", "--role", "itil")
    nowctl(fresh, "scope", "add", "cxm_api_access", "--api", "now/table")
    cid, secret = app(fresh, "Cloud ex Machina", "--grant", "client_credentials", "--user", "cxm_integration",
                      "--scope", "cxm_api_access", "--client-type", "integration_service")
    form = dict(grant_type="client_credentials", client_id=cid, client_secret=secret)
    # property off (absent on a new instance): refused
    r = token(fresh, **form)
    assert r.status_code == 401 and r.text == DENIED
    # a security property: set offline (online it needs security_admin in effect)
    fresh.set_property("glide.oauth.inbound.client.credential.grant_type.enabled", "true")
    r = token(fresh, **form)
    assert r.status_code == 200, r.text
    body = r.json()
    assert list(body) == ["scope", "token_type", "expires_in", "access_token"]  # no refresh token
    assert body["token_type"] == "Bearer" and body["expires_in"] == 1799 and body["scope"] == "cxm_api_access"
    assert re.fullmatch(r"[A-Za-z0-9_-]{86}", body["access_token"])
    tok = body["access_token"]
    # client auth in a Basic header works too
    basic = base64.b64encode(f"{cid}:{secret}".encode()).decode()
    r = requests.post(fresh.url + "/oauth_token.do", data={"grant_type": "client_credentials"},
                      headers={"Authorization": f"Basic {basic}"})
    assert r.status_code == 200
    # the scope covers the Table API and nothing else
    r = bearer(fresh, tok, "/api/now/table/incident", "POST", json={"short_description": "cxm ticket"})
    assert r.status_code == 201 and r.json()["result"]["sys_created_by"] == "cxm_integration"
    assert bearer(fresh, tok, "/api/now/v2/table/change_request", "POST",
                  json={"short_description": "cxm change"}).status_code == 201
    r = bearer(fresh, tok, "/api/now/stats/incident", params={"sysparm_count": "true"})
    assert r.status_code == 403
    assert r.json() == {"error": {"message": "User Not Authorized", "detail": "Missing required api access scope"},
                        "status": "failure"}
    # wrong secret, wrong id
    assert token(fresh, **{**form, "client_secret": "nope"}).text == DENIED
    assert token(fresh, **{**form, "client_id": "0" * 32}).text == DENIED
    # application inactive: new tokens refused and issued ones stop working
    nowctl(fresh, "oauth", "disable", "Cloud ex Machina")
    assert token(fresh, **form).status_code == 401
    assert bearer(fresh, tok, "/api/now/table/incident").status_code == 401
    nowctl(fresh, "oauth", "enable", "Cloud ex Machina")
    assert bearer(fresh, tok, "/api/now/table/incident").status_code == 200
    # the application user deactivated: refused, including the existing token
    nowctl(fresh, "user", "set", "cxm_integration", "active=false")
    assert bearer(fresh, tok, "/api/now/table/incident").status_code == 401
    assert token(fresh, **form).status_code == 401
    nowctl(fresh, "user", "set", "cxm_integration", "active=true")
    # rotating the secret retires the old one
    out = json.loads(nowctl(fresh, "--json", "oauth", "rotate-secret", "Cloud ex Machina").stdout)
    assert token(fresh, **form).status_code == 401
    assert token(fresh, **{**form, "client_secret": out["client_secret"]}).status_code == 200


def test_incident_io_password_grant(fresh):
    """Scenario 2: password grant with useraccount, refresh, revoke."""
    nowctl(fresh, "user", "add", "incident.io", "--machine", "--password", "Io-pass-12", "--role", "itil")
    cid, secret = app(fresh, "incident.io", "--grant", "password", "--scope", "useraccount")
    r = token(fresh, grant_type="password", client_id=cid, client_secret=secret,
              username="incident.io", password="Io-pass-12")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["scope"] == "useraccount" and body["expires_in"] == 1799
    assert re.fullmatch(r"[A-Za-z0-9_-]{86}", body["refresh_token"])
    access, refresh = body["access_token"], body["refresh_token"]
    assert bearer(fresh, access, "/api/now/table/incident").status_code == 200
    assert bearer(fresh, access, "/api/now/stats/incident", params={"sysparm_count": "true"}).status_code == 200
    # wrong password: refused (and counted)
    assert token(fresh, grant_type="password", client_id=cid, client_secret=secret,
                 username="incident.io", password="nope").text == DENIED
    # refresh: a new access token, the same refresh token
    r = token(fresh, grant_type="refresh_token", client_id=cid, client_secret=secret, refresh_token=refresh)
    assert r.status_code == 200
    again = r.json()
    assert again["refresh_token"] == refresh and again["access_token"] != access
    # parameters in the URL are refused on a new instance
    r = requests.post(fresh.url + "/oauth_token.do", params={"grant_type": "password", "client_id": cid,
                      "client_secret": secret, "username": "incident.io", "password": "Io-pass-12"})
    assert r.status_code == 401
    # JSON bodies are not read
    r = requests.post(fresh.url + "/oauth_token.do", json={"grant_type": "password", "client_id": cid,
                      "client_secret": secret, "username": "incident.io", "password": "Io-pass-12"})
    assert r.status_code == 401
    # revoking the refresh token ends it and the access tokens issued from it
    assert requests.post(fresh.url + "/oauth_revoke_token.do", params={"token": refresh}).status_code == 200
    assert bearer(fresh, again["access_token"], "/api/now/table/incident").status_code == 401
    assert token(fresh, grant_type="refresh_token", client_id=cid, client_secret=secret,
                 refresh_token=refresh).status_code == 401
    # a revoked access token stops at once
    r = token(fresh, grant_type="password", client_id=cid, client_secret=secret,
              username="incident.io", password="Io-pass-12")
    tok = r.json()["access_token"]
    assert bearer(fresh, tok, "/api/now/table/incident").status_code == 200
    assert requests.get(fresh.url + "/oauth_revoke.do", params={"token": tok}).status_code == 200
    assert bearer(fresh, tok, "/api/now/table/incident").status_code == 401
    r = bearer(fresh, "x" * 86, "/api/now/table/incident")
    assert r.status_code == 401 and r.json()["error"]["message"] == "User Not Authenticated"


def test_finout_integration_as_a_service(fresh):
    """Scenario 3: password grant, client type integration as a service, secret shown once."""
    nowctl(fresh, "user", "add", "finout", "--password", "Fin-pass-12", "--role", "itil")
    cid, secret = app(fresh, "Finout", "--grant", "password", "--client-type", "integration_service")
    entity = fresh.get("/api/now/table/oauth_entity", params={"client_id": cid}).json()["result"][0]
    assert entity["client_type"] == "integration_service" and entity["redirect_url"] == ""
    # never read back: a one-way secret shows only the mask [9.1]
    assert entity["client_secret"] == "********" and secret not in str(entity)
    # the session's requests-oauthlib style: client in a Basic header, user in the body
    basic = base64.b64encode(f"{cid}:{secret}".encode()).decode()
    r = requests.post(fresh.url + "/oauth_token.do", headers={"Authorization": f"Basic {basic}"},
                      data={"grant_type": "password", "username": "finout", "password": "Fin-pass-12"})
    assert r.status_code == 200
    tok = r.json()["access_token"]
    r = bearer(fresh, tok, "/api/now/table/incident", "POST", json={"short_description": "anomaly"})
    assert r.status_code == 201
    # tokens are stored hashed: the list shows no token values, only the mask [9.1]
    r = fresh.get("/api/now/table/oauth_credential", params={"peer": entity["sys_id"]})
    rows = r.json()["result"]
    assert len(rows) == 2 and all(row["token"] == "********" for row in rows) and tok not in r.text
    assert {row["type"] for row in rows} == {"access_token", "refresh_token"}
    # an application made through the Table API gets a generated client id
    r = fresh.post("/api/now/table/oauth_entity", json={"name": "Made by hand"})
    assert re.fullmatch(r"[0-9a-f]{32}", r.json()["result"]["client_id"])
    out = nowctl(fresh, "token", "list", "--app", "Finout").stdout
    assert tok not in out and "refresh_token" in out
    nowctl(fresh, "token", "revoke", "--app", "Finout")
    assert bearer(fresh, tok, "/api/now/table/incident").status_code == 401
    assert secret not in fresh.output() and tok not in fresh.output()
