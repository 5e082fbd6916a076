"""The request journal (issue 18): every request nowd serves, in a ring bounded in entries and
bytes, read under /_snowglobe/requests (admin only) and by nowctl requests; and nowctl expect,
an assertion on records in ServiceNow's terms (encoded query, count, field values)."""
import json
import os
import re
import subprocess
import time
import uuid

import pytest
import requests

from conftest import BIN, PASSWORD, Server, as_user, nowctl


M64 = (1 << 64) - 1
P1, P2, P3, P4, P5 = (0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0x85EBCA77C2B2AE63,
                      0x27D4EB2F165667C5)


def _rotl(x, r):
    return ((x << r) | (x >> (64 - r))) & M64


def _round(acc, v):
    return _rotl((acc + v * P2) & M64, 31) * P1 & M64


def xxh64(b):
    """XXH64, seed 0: the journal's body hash (any xxhash library computes the same)."""
    n, i = len(b), 0
    if n >= 32:
        v = [(P1 + P2) & M64, P2, 0, (-P1) & M64]
        while n - i >= 32:
            v = [_round(v[k], int.from_bytes(b[i + 8 * k:i + 8 * k + 8], "little")) for k in range(4)]
            i += 32
        h = (_rotl(v[0], 1) + _rotl(v[1], 7) + _rotl(v[2], 12) + _rotl(v[3], 18)) & M64
        for x in v:
            h = ((h ^ _round(0, x)) * P1 + P4) & M64
    else:
        h = P5
    h = (h + n) & M64
    while n - i >= 8:
        h = (_rotl(h ^ _round(0, int.from_bytes(b[i:i + 8], "little")), 27) * P1 + P4) & M64
        i += 8
    if n - i >= 4:
        h = (_rotl(h ^ (int.from_bytes(b[i:i + 4], "little") * P1 & M64), 23) * P2 + P3) & M64
        i += 4
    while i < n:
        h = _rotl(h ^ (b[i] * P5 & M64), 11) * P1 & M64
        i += 1
    h ^= h >> 33
    h = h * P2 & M64
    h ^= h >> 29
    h = h * P3 & M64
    h ^= h >> 32
    return f"{h:016x}"


def test_xxh64_reference():
    assert xxh64(b"") == "ef46db3751d8e999" and xxh64(b"abc") == "44bc2cf5ad770999"
    assert xxh64(b"x" * 100) == "92f0de5a88a3c094"


@pytest.fixture(scope="module")
def sg():
    s = Server()
    yield s
    s.stop()


def journal(s, **params):
    r = s.get("/_snowglobe/requests", params=params)
    assert r.status_code == 200, r.text
    return r.json()["result"], r


def clear(s):
    r = s.delete("/_snowglobe/requests")
    assert r.status_code == 200, r.text
    return r.json()["result"]["cleared"]


def set_prop(s, name, value):
    s.set_property(name, value)


def test_every_field_of_an_entry(sg):
    clear(sg)
    before = time.time()
    body = {"short_description": "journal probe", "correlation_id": "jr-" + uuid.uuid4().hex}
    r = sg.post("/api/now/table/incident", params={"sysparm_fields": "sys_id,number"}, json=body)
    assert r.status_code == 201, r.text
    rows, resp = journal(sg)
    # The journal's own read is not recorded (the default): only the POST.
    assert len(rows) == 1 and resp.headers["X-Total-Count"] == "1", rows
    e = rows[0]
    assert set(e) == {"seq", "time", "time_ms", "user", "method", "path", "query", "status",
                      "latency_ms", "request_bytes", "response_bytes", "request_hash",
                      "response_hash"}  # no bodies by default
    assert e["user"] == "admin" and e["method"] == "POST" and e["path"] == "/api/now/table/incident"
    assert e["query"] == "sysparm_fields=sys_id%2Cnumber" or e["query"] == "sysparm_fields=sys_id,number"
    assert e["status"] == 201
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}", e["time"])
    assert before - 2 <= e["time_ms"] / 1000 <= time.time() + 2
    assert isinstance(e["latency_ms"], float) and 0 <= e["latency_ms"] < 10000
    sent = json.dumps(body).encode()
    assert r.request.body == sent
    assert e["request_bytes"] == len(sent)
    assert e["request_hash"] == xxh64(sent)
    assert e["response_bytes"] == len(r.content)
    assert e["response_hash"] == xxh64(r.content)
    assert isinstance(e["seq"], int) and e["seq"] > 0

    # A GET without a body: no request hash; anonymous requests have no user.
    requests.get(sg.url + "/api/now/table/incident", headers={"Accept": "application/json"})
    rows, _ = journal(sg, limit=1)
    assert rows[0]["status"] == 401 and rows[0]["user"] is None and rows[0]["request_hash"] is None
    assert rows[0]["request_bytes"] == 0

    # Bytes that are not UTF-8 in the path or query do not break reading the journal.
    sg.get("/api/now/table/incident%FF%FE?x=%C3%28&y=\xff")
    rows, _ = journal(sg, limit=1)
    assert rows[0]["path"].startswith("/api/now/table/incident") and "\ufffd" not in rows[0]["path"]


def test_filters_and_count(sg):
    clear(sg)
    nowctl(sg, "user", "add", "jr_itil", "--password", PASSWORD, "--role", "itil")
    itil = as_user(sg, "jr_itil", PASSWORD)
    clear(sg)
    t0 = time.time()
    assert sg.get("/api/now/table/incident", params={"sysparm_limit": 1}).status_code == 200
    assert sg.get("/api/now/table/problem", params={"sysparm_limit": 1}).status_code == 200
    assert sg.get("/api/now/table/incident/00000000000000000000000000000000").status_code == 404
    assert itil("GET", "/api/now/table/incident?sysparm_limit=1").status_code == 200
    assert itil("DELETE", "/api/now/table/sys_user/00000000000000000000000000000000").status_code in (403, 404)

    def paths(**p):
        return [e["path"] for e in journal(sg, **p)[0]]

    assert len(paths()) == 5
    assert paths(path="/api/now/table/incident") == ["/api/now/table/incident",
                                                      "/api/now/table/incident/00000000000000000000000000000000",
                                                      "/api/now/table/incident"]
    assert paths(path="/api/now/table/*/0*") == ["/api/now/table/sys_user/00000000000000000000000000000000",
                                               "/api/now/table/incident/00000000000000000000000000000000"]
    assert paths(user="jr_itil") == ["/api/now/table/sys_user/00000000000000000000000000000000",
                                     "/api/now/table/incident"]
    assert "/api/now/table/incident/00000000000000000000000000000000" in paths(status="404")
    assert all(e["status"] == 404 for e in journal(sg, status="404")[0])
    assert len(paths(status="2xx")) == 3
    assert all(e["status"] // 100 == 4 for e in journal(sg, status="4xx")[0])
    assert paths(method="delete") == ["/api/now/table/sys_user/00000000000000000000000000000000"]
    assert len(paths(limit=2)) == 2
    _, resp = journal(sg, limit=2)
    assert resp.headers["X-Total-Count"] == "5"
    assert paths(since=time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(time.time() + 60))) == []
    assert len(paths(since=f"{t0 - 1:.3f}")) == 5
    newest = journal(sg, limit=1)[0][0]["seq"]
    assert paths(after=newest) == []

    r = sg.get("/_snowglobe/requests/count", params={"path": "/api/now/table/incident", "status": "2xx"})
    assert r.status_code == 200 and r.json()["result"]["count"] == 2 and r.headers["X-Total-Count"] == "2"

    for bad in ({"status": "4x"}, {"status": "abc"}, {"since": "yesterday"}, {"limit": "-1"}, {"after": "x"}):
        r = sg.get("/_snowglobe/requests", params=bad)
        assert r.status_code == 400, bad
        assert r.json()["status"] == "failure" and r.json()["error"]["message"] == "Invalid filter"

    # nowctl reads the same (online only).
    out = nowctl(sg, "requests", "--user", "jr_itil", "--json").stdout
    assert [e["path"] for e in json.loads(out)] == paths(user="jr_itil")
    assert nowctl(sg, "requests", "--status", "2xx", "--count").stdout.strip() == "3"
    table = nowctl(sg, "requests", "--method", "DELETE").stdout
    assert "/api/now/table/sys_user/00000000000000000000000000000000" in table and "jr_itil" in table
    r = nowctl(sg, "requests", offline=True, ok=False)
    assert r.returncode == 2 and "--instance" in r.stderr
    assert nowctl(sg, "requests", "--bogus", "x", ok=False).returncode == 2


def test_clear_and_self_reads(sg):
    sg.get("/api/now/table/incident", params={"sysparm_limit": 1})
    assert clear(sg) >= 1
    assert journal(sg)[0] == []
    assert clear(sg) == 0
    # The journal's own requests are left out unless snowglobe.journal.record_self is true.
    set_prop(sg, "snowglobe.journal.record_self", "true")
    try:
        clear(sg)
        journal(sg)
        rows, _ = journal(sg)
        assert [e["path"] for e in rows][:1] == ["/_snowglobe/requests"]
    finally:
        set_prop(sg, "snowglobe.journal.record_self", "false")
    clear(sg)
    out = nowctl(sg, "requests", "clear").stdout
    assert "cleared" in out


def test_ring_bound_in_entries_and_bytes(sg):
    set_prop(sg, "snowglobe.journal.size", "5")
    try:
        clear(sg)
        for i in range(9):
            sg.get("/api/now/table/incident", params={"sysparm_limit": 1, "n": i})
        rows, _ = journal(sg)
        assert [e["query"] for e in rows] == [f"sysparm_limit=1&n={i}" for i in range(8, 3, -1)]
        c = sg.get("/_snowglobe/requests/count").json()["result"]
        assert c["held"] == 5 and c["dropped"] >= 4
    finally:
        set_prop(sg, "snowglobe.journal.size", "1000")
    # Bytes: with bodies kept and a small byte bound, big bodies push the old entries out.
    set_prop(sg, "snowglobe.journal.bodies", "true")
    set_prop(sg, "snowglobe.journal.max_bytes", "20000")
    try:
        clear(sg)
        for i in range(10):
            sg.post("/api/now/table/incident", json={"short_description": "x" * 5000, "description": str(i)})
        c = sg.get("/_snowglobe/requests/count").json()["result"]
        assert c["bytes"] <= 20000 and 1 <= c["held"] < 10
    finally:
        set_prop(sg, "snowglobe.journal.max_bytes", "8388608")
        set_prop(sg, "snowglobe.journal.bodies", "false")


def test_bodies_off_by_default_on_when_asked_secrets_masked(sg):
    cid_secret = json.loads(nowctl(sg, "--json", "oauth", "add", "jr_app", "--grant", "password").stdout)
    cid, secret = cid_secret["client_id"], cid_secret["client_secret"]
    clear(sg)
    sg.post("/api/now/table/incident", json={"short_description": "no body kept"})
    e = journal(sg)[0][0]
    assert "request_body" not in e and "response_body" not in e

    set_prop(sg, "snowglobe.journal.bodies", "true")
    try:
        clear(sg)
        r = sg.post("/api/now/table/incident", json={"short_description": "kept body"})
        assert r.status_code == 201
        e = journal(sg)[0][0]
        assert json.loads(e["request_body"]) == {"short_description": "kept body"}
        assert json.loads(e["response_body"])["result"]["short_description"] == "kept body"

        # A password grant: neither the password nor the client secret nor the tokens appear.
        r = requests.post(sg.url + "/oauth_token.do",
                          data={"grant_type": "password", "client_id": cid, "client_secret": secret,
                                "username": "admin", "password": PASSWORD})
        assert r.status_code == 200, r.text
        tok = r.json()
        # A JSON body with secret members, and a Bearer header (never recorded).
        sg.post("/api/now/table/incident", json={"short_description": "p", "user_password": PASSWORD,
                                                 "nested": {"client_secret": secret}})
        requests.get(sg.url + "/api/now/table/incident?sysparm_limit=1&access_token=" + tok["access_token"],
                     headers={"Authorization": "Bearer " + tok["access_token"], "Accept": "application/json"})
        rows, _ = journal(sg)
        dump = json.dumps(rows)
        for s in (PASSWORD, secret, tok["access_token"], tok["refresh_token"]):
            assert s not in dump
        grant = next(e for e in rows if e["path"] == "/oauth_token.do")
        assert "password=***" in grant["request_body"] and "client_secret=***" in grant["request_body"]
        assert "username=admin" in grant["request_body"]
        assert json.loads(grant["response_body"])["access_token"] == "***"
        assert grant["user"] is None or grant["user"] == "admin"
        member = next(e for e in rows if e.get("request_body", "").startswith('{"short_description": "p"') or
                      '"user_password"' in e.get("request_body", ""))
        assert json.loads(member["request_body"])["user_password"] == "***"
        bearer = next(e for e in rows if "access_token=" in e["query"])
        assert "access_token=***" in bearer["query"] and bearer["user"] == "admin"
    finally:
        set_prop(sg, "snowglobe.journal.bodies", "false")


def test_admin_only(sg):
    nowctl(sg, "user", "add", "jr_itil2", "--password", PASSWORD, "--role", "itil")
    itil = as_user(sg, "jr_itil2", PASSWORD)
    for method, path in (("GET", "/_snowglobe/requests"), ("GET", "/_snowglobe/requests/count"),
                         ("DELETE", "/_snowglobe/requests")):
        r = itil(method, path)
        assert r.status_code == 403 and r.json()["error"]["message"] == "Insufficient rights", path
        r = requests.request(method, sg.url + path, headers={"Accept": "application/json"})
        assert r.status_code == 401
    assert journal(sg)[0] != []  # the refused DELETE cleared nothing


def test_journal_can_be_switched_off(sg):
    set_prop(sg, "snowglobe.journal.enabled", "false")
    try:
        clear(sg)
        sg.get("/api/now/table/incident", params={"sysparm_limit": 1})
        assert journal(sg)[0] == []
    finally:
        set_prop(sg, "snowglobe.journal.enabled", "true")


def expect(s, *args, offline=False):
    env = dict(os.environ, NOWCTL_PASSWORD=PASSWORD)
    where = s.where if offline else ["--instance", s.url, "--user", "admin"]
    return subprocess.run([os.path.join(BIN, "nowctl"), *where, "expect", *args],
                          capture_output=True, text=True, env=env)


def test_expect_exit_codes_and_diff(sg):
    corr = "jr-exp-" + uuid.uuid4().hex
    r = expect(sg, "incident", "--query", f"correlation_id={corr}", "--count", "0")
    assert r.returncode == 0, r.stdout + r.stderr
    r = expect(sg, "incident", "--query", f"correlation_id={corr}", "--count", "1")
    assert r.returncode == 1 and "expected: exactly 1" in r.stdout and "found:    0" in r.stdout

    inc = sg.post("/api/now/table/incident", json={"short_description": "exp", "correlation_id": corr}).json()["result"]
    q = f"correlation_id={corr}"
    assert expect(sg, "incident", "--query", q, "--count", "1").returncode == 0
    assert expect(sg, "incident", "--query", q, "--min", "1").returncode == 0
    assert expect(sg, "incident", "--query", q, "--max", "0").returncode == 1
    # Field values: the record's number and sys_id and the differing values in the diff.
    r = expect(sg, "incident", "--query", q, "--count", "1", "--field", "state=6",
               "--field", "close_code=Solution provided")
    assert r.returncode == 1
    assert inc["number"] in r.stdout and inc["sys_id"] in r.stdout
    assert 'state: expected "6", found "1"' in r.stdout
    assert 'close_code: expected "Solution provided", found ""' in r.stdout
    sg.patch(f"/api/now/table/incident/{inc['sys_id']}",
             json={"state": "6", "close_code": "Solution provided", "close_notes": "done"})
    r = expect(sg, "incident", "--query", q, "--count", "1", "--field", "state=6",
               "--field", "close_code=Solution provided")
    assert r.returncode == 0, r.stdout
    # A duplicate: count 1 fails and names both records.
    dup = sg.post("/api/now/table/incident", json={"short_description": "dup", "correlation_id": corr}).json()["result"]
    r = expect(sg, "incident", "--query", q, "--count", "1")
    assert r.returncode == 1 and "found:    2" in r.stdout and dup["number"] in r.stdout
    # --json, offline as well.
    r = expect(sg, "incident", "--query", q, "--count", "2", "--json", offline=True)
    assert r.returncode == 0 and json.loads(r.stdout)["holds"] is True
    r = expect(sg, "incident", "--query", q, "--count", "2", "--field", "state=6", "--json", offline=True)
    out = json.loads(r.stdout)
    assert r.returncode == 1 and out["holds"] is False
    assert [d["sys_id"] for d in out["differ"]] == [dup["sys_id"]]
    assert out["differ"][0]["fields"]["state"] == {"expected": "6", "found": "1"}
    # Usage errors: 2.
    for bad in ([], ["incident"], ["incident", "--query", q], ["incident", "--count", "1"],
                ["incident", "--query", q, "--count", "x"], ["incident", "--query", q, "--count", "1", "--max", "2"],
                ["incident", "--query", q, "--count", "1", "--field", "state"]):
        assert expect(sg, *bad).returncode == 2, bad
    # Online, as the given user: ACLs apply (an unknown table is a failure, not a usage error).
    assert expect(sg, "no_such_table", "--query", "", "--count", "0").returncode == 1
