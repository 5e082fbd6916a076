"""Fault injection (issue 18, item 3): rules under /_snowglobe/faults and `nowctl fault`, each
effect seen by a real client as it would come from ServiceNow, matching by each key, count and
time window, seeded probability that replays, admin only, and a PySNC-like retrying client."""
import json
import socket
import time

import pytest
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from conftest import PASSWORD, Server, as_user, nowctl, wait_for

DENIED = '{"error_description":"access_denied","error":"server_error"}'
TX_TIMEOUT = {"error": {"message": "Transaction cancelled: maximum execution time exceeded",
                        "detail": "Transaction cancelled: maximum execution time exceeded Check logs for "
                                  "error trace or enable glide.rest.debug property to verify REST request "
                                  "processing"},
              "status": "failure"}
INCIDENTS = "/api/now/table/incident?sysparm_limit=1"


@pytest.fixture(scope="module")
def sg():
    s = Server()
    nowctl(s, "user", "add", "fault_itil", "--password", PASSWORD, "--role", "itil")
    yield s
    s.stop()


@pytest.fixture(autouse=True)
def no_rules(sg):
    assert sg.delete("/_snowglobe/faults").status_code == 204
    yield
    assert sg.delete("/_snowglobe/faults").status_code == 204


def add(sg, **rule):
    r = sg.post("/_snowglobe/faults", json=rule)
    assert r.status_code == 201, r.text
    return r.json()["result"]


def plain(sg, path=INCIDENTS, method="GET", headers=None, **kw):
    """One request as the admin, without retries."""
    return requests.request(method, sg.url + path, auth=("admin", PASSWORD),
                            headers={"Accept": "application/json", **(headers or {})}, **kw)


def rule(sg, rid):
    return sg.get(f"/_snowglobe/faults/{rid}").json()["result"]


# ---- the rules themselves -----------------------------------------------------------------

def test_admin_only_and_never_faulted_itself(sg):
    itil = as_user(sg, "fault_itil", PASSWORD)
    for method, path in (("GET", "/_snowglobe/faults"), ("POST", "/_snowglobe/faults"),
                         ("DELETE", "/_snowglobe/faults"), ("DELETE", "/_snowglobe/faults/1")):
        r = itil(method, path, json={"effect": "error_500"})
        assert r.status_code == 403, (method, path, r.text)
        assert r.json()["error"]["message"] == "Insufficient rights"
    assert requests.get(sg.url + "/_snowglobe/faults").status_code == 401
    # a rule that matches every path leaves /_snowglobe/ alone, so it can be removed
    r = add(sg, effect="error_500", path="*")
    assert plain(sg).status_code == 500
    assert sg.get("/_snowglobe/faults").status_code == 200
    assert sg.get("/_snowglobe").status_code == 200
    assert sg.delete(f"/_snowglobe/faults/{r['id']}").status_code == 204
    assert plain(sg).status_code == 200


def test_rules_are_listed_validated_and_bounded(sg):
    r = add(sg, effect="error_503", method="get", path="/api/now/table/*", count=2, seed=7,
            probability=0.25)
    assert r["method"] == "GET" and r["count"] == 2 and r["seed"] == 7 and r["probability"] == 0.25
    assert r["matched"] == 0 and r["fired"] == 0 and r["from"] is None
    assert [x["id"] for x in sg.get("/_snowglobe/faults").json()["result"]] == [r["id"]]
    assert rule(sg, r["id"])["effect"] == "error_503"
    for bad in ({}, {"effect": "explode"}, {"effect": "error_500", "colour": "red"},
                {"effect": "error_500", "probability": 2}, {"effect": "latency"},
                {"effect": "latency", "latency_ms": 999999}, {"effect": "error_500", "count": -1},
                {"effect": "error_500", "until": 5, "for": 5}, {"effect": "error_500", "method": "G T"},
                {"effect": "token_refused", "user": "admin"}, {"effect": "error_500", "path": "x" * 300}):
        resp = sg.post("/_snowglobe/faults", json=bad)
        assert resp.status_code == 400, (bad, resp.text)
        assert resp.json()["status"] == "failure" and resp.json()["error"]["detail"]
    assert sg.post("/_snowglobe/faults", data="{", headers={"Content-Type": "application/json"}).status_code == 400
    assert sg.get("/_snowglobe/faults/999").status_code == 404
    assert sg.get("/_snowglobe/faults/abc").status_code == 404
    assert sg.delete("/_snowglobe/faults/999").status_code == 404
    for _ in range(63):
        add(sg, effect="error_500", path="/nowhere")
    resp = sg.post("/_snowglobe/faults", json={"effect": "error_500"})
    assert resp.status_code == 400 and "at most 64" in resp.json()["error"]["detail"]


# ---- each effect, as a client sees it ------------------------------------------------------

def test_errors_are_servicenows_bodies(sg):
    add(sg, effect="error_500", count=1)
    r = plain(sg)
    assert r.status_code == 500 and r.headers["Content-Type"].startswith("application/json")
    assert r.json() == {"error": {"message": "Internal server error", "detail": None}, "status": "failure"}
    add(sg, effect="error_503", count=1)
    r = plain(sg)
    assert r.status_code == 503 and r.json()["status"] == "failure"
    assert r.json()["error"]["message"] == "Service unavailable"
    add(sg, effect="transaction_timeout", count=1)
    r = plain(sg)
    assert r.status_code == 500 and r.json() == TX_TIMEOUT
    # the real status is uncertain: a property chooses it
    sg.set_property("snowglobe.fault.transaction_timeout_status", "503")
    try:
        add(sg, effect="transaction_timeout", count=1)
        r = plain(sg)
        assert r.status_code == 503 and r.json() == TX_TIMEOUT
    finally:
        sg.set_property("snowglobe.fault.transaction_timeout_status", "500")
    assert plain(sg).status_code == 200


def test_rate_limit_with_and_without_headers(sg):
    add(sg, effect="rate_limit", count=1, rate=250)
    r = plain(sg)
    assert r.status_code == 429
    assert r.json() == {"error": {"message": "Rate limit exceeded",
                                  "detail": "Rate limit of 250 requests per hour for Table API exceeded"},
                        "status": "failure"}
    now = time.time()
    assert 1 <= int(r.headers["Retry-After"]) <= 3600
    assert abs(int(r.headers["X-RateLimit-Reset"]) - (now + int(r.headers["Retry-After"]))) <= 2
    assert r.headers["X-RateLimit-Limit"] == "250" and r.headers["X-RateLimit-Remaining"] == "0"
    assert len(r.headers["X-RateLimit-Rule"]) == 32
    add(sg, effect="rate_limit", count=1, rate_limit_headers=False)
    r = plain(sg)
    assert r.status_code == 429 and r.json()["error"]["message"] == "Rate limit exceeded"
    assert not [h for h in r.headers if h.lower().startswith(("retry-after", "x-ratelimit"))]


def test_hibernating_instance_page(sg):
    add(sg, effect="hibernate", count=1)
    r = plain(sg)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    assert "Want to find out why instances hibernate?" in r.text and "<html" in r.text
    with pytest.raises(ValueError):
        r.json()
    assert plain(sg).json()["result"] is not None


def test_latency(sg):
    add(sg, effect="latency", latency_ms=400, path="/api/now/table/incident", count=1)
    t = time.monotonic()
    assert plain(sg).status_code == 200
    assert time.monotonic() - t >= 0.4
    # latency before an error
    add(sg, effect="error_503", latency_ms=300, count=1)
    t = time.monotonic()
    assert plain(sg).status_code == 503
    assert time.monotonic() - t >= 0.3


def test_close_the_connection(sg):
    add(sg, effect="close", count=1)
    with pytest.raises(requests.exceptions.ConnectionError):
        plain(sg)
    # raw: the socket ends with no byte of an answer
    add(sg, effect="close", count=1, path="/api/now/table/problem")
    host, port = sg.url.split("//")[1].rstrip("/").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(b"GET /api/now/table/problem HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\n\r\n")
        assert s.recv(100) == b""
    assert plain(sg).status_code == 200
    # a streamed upload (an attachment) is closed on as soon as its head is in
    inc = plain(sg, "/api/now/table/incident", "POST", json={"short_description": "for a file"}).json()["result"]
    add(sg, effect="close", count=1, path="/api/now/attachment/file")
    with pytest.raises(requests.exceptions.ConnectionError):
        plain(sg, "/api/now/attachment/file", "POST", data=b"x" * 1000,
              params={"table_name": "incident", "table_sys_id": inc["sys_id"], "file_name": "a.txt"},
              headers={"Content-Type": "text/plain"})
    assert plain(sg, "/api/now/attachment/file", "POST", data=b"x" * 1000,
                 params={"table_name": "incident", "table_sys_id": inc["sys_id"], "file_name": "a.txt"},
                 headers={"Content-Type": "text/plain"}).status_code == 201


def oauth_app(sg, name):
    out = json.loads(nowctl(sg, "--json", "oauth", "add", name, "--grant", "password",
                            "--scope", "useraccount").stdout)
    return out["client_id"], out["client_secret"]


def password_grant(sg, cid, secret):
    r = requests.post(sg.url + "/oauth_token.do", data=dict(
        grant_type="password", client_id=cid, client_secret=secret, username="fault_itil",
        password=PASSWORD))
    assert r.status_code == 200, r.text
    return r.json()


def bearer(sg, tok, path=INCIDENTS):
    return requests.get(sg.url + path, headers={"Authorization": f"Bearer {tok}",
                                                "Accept": "application/json"})


def refresh(sg, cid, secret, tok):
    return requests.post(sg.url + "/oauth_token.do", data=dict(
        grant_type="refresh_token", client_id=cid, client_secret=secret, refresh_token=tok))


def test_token_endpoint_refused_and_tokens_expired(sg):
    cid, secret = oauth_app(sg, "fault tokens")
    add(sg, effect="token_refused", count=1)
    r = requests.post(sg.url + "/oauth_token.do", data=dict(
        grant_type="password", client_id=cid, client_secret=secret, username="fault_itil",
        password=PASSWORD))
    assert r.status_code == 401 and r.text == DENIED
    assert r.headers["Content-Type"].startswith("application/json")
    tok = password_grant(sg, cid, secret)
    assert bearer(sg, tok["access_token"]).status_code == 200
    # every access token expires now; the refresh token still works
    add(sg, effect="expire_tokens", count=1, path="/api/now/table/sys_user")
    assert plain(sg, "/api/now/table/sys_user?sysparm_limit=1").status_code == 200
    r = bearer(sg, tok["access_token"])
    assert r.status_code == 401 and r.json()["error"]["message"] == "User Not Authenticated"
    r = refresh(sg, cid, secret, tok["refresh_token"])
    assert r.status_code == 200, r.text
    fresh_tok = r.json()["access_token"]
    assert bearer(sg, fresh_tok).status_code == 200
    # with refresh_tokens, those too
    add(sg, effect="expire_tokens", count=1, refresh_tokens=True, path="/api/now/table/sys_user")
    plain(sg, "/api/now/table/sys_user?sysparm_limit=1")
    assert bearer(sg, fresh_tok).status_code == 401
    assert refresh(sg, cid, secret, tok["refresh_token"]).text == DENIED
    assert bearer(sg, password_grant(sg, cid, secret)["access_token"]).status_code == 200


# ---- matching --------------------------------------------------------------------------------

def test_match_by_method_path_and_table(sg):
    add(sg, effect="error_503", method="POST")
    assert plain(sg).status_code == 200
    assert plain(sg, "/api/now/table/incident", "POST", json={"short_description": "x"}).status_code == 503
    sg.delete("/_snowglobe/faults")
    # a rule that needs no user answers before authentication: even bad credentials get it
    add(sg, effect="error_503", path="/api/now/table/incident", count=1)
    assert requests.get(sg.url + INCIDENTS, auth=("admin", "wrong")).status_code == 503
    assert requests.get(sg.url + INCIDENTS, auth=("admin", "wrong")).status_code == 401
    add(sg, effect="error_503", path="/api/now/table/prob*")
    assert plain(sg).status_code == 200
    assert plain(sg, "/api/now/table/problem?sysparm_limit=1").status_code == 503
    assert plain(sg, "/api/now/v2/table/problem?sysparm_limit=1").status_code == 200
    sg.delete("/_snowglobe/faults")
    add(sg, effect="error_503", table="problem")
    assert plain(sg).status_code == 200
    assert plain(sg, "/api/now/table/problem?sysparm_limit=1").status_code == 503
    assert plain(sg, "/api/now/v2/table/problem?sysparm_limit=1").status_code == 503
    assert plain(sg, "/api/now/stats/problem?sysparm_count=true").status_code == 503


def test_match_by_user_and_client_id(sg):
    itil = as_user(sg, "fault_itil", PASSWORD)
    add(sg, effect="error_500", user="fault_itil")
    assert plain(sg).status_code == 200
    assert itil("GET", INCIDENTS).status_code == 500
    # a rule that needs the user answers after authentication: bad credentials stay a 401
    assert requests.get(sg.url + INCIDENTS, auth=("fault_itil", "wrong")).status_code == 401
    sg.delete("/_snowglobe/faults")
    cid_a, sec_a = oauth_app(sg, "fault client a")
    cid_b, sec_b = oauth_app(sg, "fault client b")
    tok_a = password_grant(sg, cid_a, sec_a)["access_token"]
    tok_b = password_grant(sg, cid_b, sec_b)["access_token"]
    add(sg, effect="error_503", client_id=cid_a)
    assert bearer(sg, tok_a).status_code == 503
    assert bearer(sg, tok_b).status_code == 200
    assert itil("GET", INCIDENTS).status_code == 200


def test_count_and_window(sg):
    r = add(sg, effect="error_503", count=2)
    assert [plain(sg).status_code for _ in range(4)] == [503, 503, 200, 200]
    got = rule(sg, r["id"])
    assert got["fired"] == 2
    sg.delete("/_snowglobe/faults")
    add(sg, effect="error_503", **{"for": 1})
    assert plain(sg).status_code == 503
    assert wait_for(lambda: plain(sg).status_code == 200, timeout=5)
    later = int(time.time()) + 3600
    add(sg, effect="error_503", **{"from": later})
    assert plain(sg).status_code == 200
    add(sg, effect="error_503", **{"from": "2000-01-01 00:00:00", "until": "2001-01-01 00:00:00"})
    assert plain(sg).status_code == 200


def sequence(sg, seed):
    add(sg, effect="error_503", probability=0.5, seed=seed, path="/api/now/table/incident")
    out = "".join("x" if plain(sg).status_code == 503 else "." for _ in range(50))
    assert sg.delete("/_snowglobe/faults").status_code == 204
    return out


def test_seeded_probability_replays(sg):
    first = sequence(sg, 42)
    assert 10 <= first.count("x") <= 40, first
    assert sequence(sg, 42) == first
    assert sequence(sg, 43) != first


# ---- a client that retries as PySNC does ----------------------------------------------------

def pysnc_like(sg, total=4):
    """PySNC's session: urllib3 Retry(total=4, backoff 0.2, on 429/500/502/503, honouring
    Retry-After)."""
    s = requests.Session()
    s.auth = ("admin", PASSWORD)
    s.headers["Accept"] = "application/json"
    retry = Retry(total=total, backoff_factor=0.01, status_forcelist=[429, 500, 502, 503],
                  allowed_methods=None, raise_on_status=False, respect_retry_after_header=True)
    s.mount("http://", HTTPAdapter(max_retries=retry))
    return s


def test_retrying_client_sees_what_servicenow_would_send(sg):
    s = pysnc_like(sg)
    r = add(sg, effect="error_503", count=3)
    resp = s.get(sg.url + INCIDENTS)
    assert resp.status_code == 200 and "result" in resp.json()
    assert rule(sg, r["id"])["fired"] == 3
    # more faults than retries: the client ends with ServiceNow's own answer
    add(sg, effect="transaction_timeout")
    resp = s.post(sg.url + "/api/now/table/incident", json={"short_description": "retry me"})
    assert resp.status_code == 500 and resp.json() == TX_TIMEOUT
    sg.delete("/_snowglobe/faults")
    add(sg, effect="rate_limit", rate_limit_headers=False, count=2)
    resp = s.get(sg.url + INCIDENTS)
    assert resp.status_code == 200
    # a 429 with Retry-After: the client waits as told, then gives up with the body and headers
    add(sg, effect="rate_limit")
    resp = pysnc_like(sg, total=0).get(sg.url + INCIDENTS)
    assert resp.status_code == 429 and "Retry-After" in resp.headers
    assert resp.json()["error"]["message"] == "Rate limit exceeded"


# ---- nowctl ------------------------------------------------------------------------------------

def test_nowctl_fault(sg):
    out = nowctl(sg, "fault", "add", "error_503", "--path", "/api/now/table/*", "--count", "1",
                 "--seed", "9", "--probability", "1").stdout
    assert "added: error_503" in out
    listed = json.loads(nowctl(sg, "--json", "fault", "list").stdout)
    assert len(listed) == 1 and listed[0]["seed"] == 9 and listed[0]["count"] == 1
    assert plain(sg).status_code == 503
    assert "fired=1" in nowctl(sg, "fault", "list").stdout
    nowctl(sg, "fault", "remove", listed[0]["id"])
    assert "No fault rules" in nowctl(sg, "fault", "list").stdout
    nowctl(sg, "fault", "add", "latency", "--latency", "10", "--for", "60")
    nowctl(sg, "fault", "clear")
    assert sg.get("/_snowglobe/faults").json()["result"] == []
    r = nowctl(sg, "fault", "add", "explode", ok=False)
    assert r.returncode == 1 and "effect must be one of" in r.stderr
    r = nowctl(sg, "fault", "list", offline=True, ok=False)
    assert r.returncode == 1 and "--instance" in r.stderr
    assert nowctl(sg, "fault", "add", "error_500", "--count", "x", ok=False).returncode == 2
