"""Table API details real clients found (reference 9.1, 3.6): a POST with no body, a
client-chosen sys_id that is not lowercase hex, the masked password field, tiny URLs and
long query strings."""
import re

import requests

from conftest import PASSWORD, as_user, nowctl

CUSTOM = "AAAABBBBCCCCDDDDEEEEFFFF00001111"
MASK = "********"


def test_post_without_body_creates_from_defaults(server):
    for kw in ({}, {"headers": {"Content-Type": "application/json", "Content-Length": "0"}}):
        r = server.post("/api/now/table/incident", **kw)
        assert r.status_code == 201, r.text
        rec = r.json()["result"]
        assert re.fullmatch(r"[0-9a-f]{32}", rec["sys_id"])
        assert rec["number"].startswith("INC")
        assert rec["state"] == "1" and rec["active"] == "true"
        assert r.headers["Location"].endswith("/api/now/table/incident/" + rec["sys_id"])
        assert server.delete("/api/now/table/incident/" + rec["sys_id"]).status_code == 204
    # the empty body of an update is still refused
    r = server.post("/api/now/table/incident", json={"short_description": "x"})
    sid = r.json()["result"]["sys_id"]
    r = server.patch("/api/now/table/incident/" + sid)
    assert r.status_code == 400
    assert r.json()["status"] == "failure"
    # no body on a missing table is still the missing table
    r = server.post("/api/now/table/no_such_table")
    assert r.status_code == 400 and r.json()["error"]["message"] == "Invalid table no_such_table"


def test_client_chosen_sys_id_is_kept(server):
    r = server.post("/api/now/table/problem", json={"sys_id": CUSTOM, "short_description": "custom id"})
    assert r.status_code == 201, r.text
    assert r.json()["result"]["sys_id"] == CUSTOM
    assert r.headers["Location"].endswith("/api/now/table/problem/" + CUSTOM)
    path = "/api/now/table/problem/" + CUSTOM
    got = server.get(path)
    assert got.status_code == 200 and got.json()["result"]["short_description"] == "custom id"
    assert server.get("/api/now/table/task/" + CUSTOM).json()["result"]["sys_class_name"] == "problem"
    r = server.patch(path, json={"short_description": "patched"})
    assert r.status_code == 200 and r.json()["result"]["short_description"] == "patched"
    # found by query, and referenced by that id
    rows = server.get("/api/now/table/problem", params={"sysparm_query": "sys_id=" + CUSTOM}).json()["result"]
    assert [x["sys_id"] for x in rows] == [CUSTOM]
    number = got.json()["result"]["number"]
    r = server.post("/api/now/table/incident", json={"short_description": "ref", "problem_id": CUSTOM})
    inc = r.json()["result"]
    assert inc["problem_id"]["value"] == CUSTOM
    assert inc["problem_id"]["link"].endswith("/api/now/table/problem/" + CUSTOM)
    shown = server.get("/api/now/table/incident/" + inc["sys_id"],
                       params={"sysparm_display_value": "all", "sysparm_fields": "problem_id,problem_id.sys_id"})
    assert shown.json()["result"]["problem_id"]["display_value"] == number
    assert shown.json()["result"]["problem_id.sys_id"]["value"] == CUSTOM
    rows = server.get("/api/now/table/incident", params={"problem_id": CUSTOM, "sysparm_fields": "sys_id"})
    assert [x["sys_id"] for x in rows.json()["result"]] == [inc["sys_id"]]
    # a second record with the same id is refused, the first stays
    r = server.post("/api/now/table/problem", json={"sys_id": CUSTOM, "short_description": "again"})
    assert r.status_code >= 400
    assert server.get(path).json()["result"]["short_description"] == "patched"
    assert server.delete(path).status_code == 204
    assert server.get(path).status_code == 404
    server.delete("/api/now/table/incident/" + inc["sys_id"])


def test_unusable_sys_ids_are_replaced(server):
    # not 32 characters, or characters a path segment cannot hold as they are: a generated id
    for bad in ("AAAABBBB", CUSTOM + "2", "AAAA BBBBCCCCDDDDEEEEFFFF0000111", "AAAA%BBBBCCCCDDDDEEEEFFFF0000111",
                "AAAA/BBBBCCCCDDDDEEEEFFFF0000111", "AAAA\u00e9BBBCCCCDDDDEEEEFFFF0000111", "AAAA\nBBBBCCCCDDDDEEEEFFFF0000111"):
        r = server.post("/api/now/table/problem", json={"sys_id": bad, "short_description": "bad id"})
        assert r.status_code == 201, (bad, r.text)
        sid = r.json()["result"]["sys_id"]
        assert re.fullmatch(r"[0-9a-f]{32}", sid), bad
        assert server.delete("/api/now/table/problem/" + sid).status_code == 204
    # the unreserved punctuation is kept
    odd = "abc-def.ghi_jkl~MNOPQRSTUVWXYZ01"
    assert len(odd) == 32
    r = server.post("/api/now/table/problem", json={"sys_id": odd})
    assert r.status_code == 201 and r.json()["result"]["sys_id"] == odd
    assert server.get("/api/now/table/problem/" + odd).status_code == 200
    assert server.delete("/api/now/table/problem/" + odd).status_code == 204


def test_password_is_returned_masked(fresh):
    nowctl(fresh, "user", "add", "masked.user", "--password", "Masked-pass-1", "--role", "itil")
    base = {"user_name": "masked.user"}
    for params, want in (({}, MASK), ({"sysparm_display_value": "false"}, MASK),
                         ({"sysparm_display_value": "true"}, MASK),
                         ({"sysparm_display_value": "all"}, {"display_value": MASK, "value": MASK}),
                         ({"sysparm_fields": "user_name,user_password"}, MASK),
                         ({"sysparm_fields": "user_password", "sysparm_display_value": "all",
                           "sysparm_exclude_reference_link": "true"}, {"display_value": MASK, "value": MASK})):
        r = fresh.get("/api/now/table/sys_user", params={**base, **params})
        assert r.status_code == 200
        rec = r.json()["result"][0]
        assert rec["user_password"] == want, params
        assert "argon2" not in r.text
        sid = fresh.get("/api/now/table/sys_user", params={**base, "sysparm_fields": "sys_id"}).json()["result"][0]["sys_id"]
        one = fresh.get("/api/now/table/sys_user/" + sid, params=params)
        assert one.json()["result"]["user_password"] == want and "argon2" not in one.text
    # a dot-walk to it shows the mask too
    r = fresh.post("/api/now/table/incident", json={"short_description": "pw", "caller_id": sid},
                   params={"sysparm_fields": "caller_id.user_password,caller_id.user_name"})
    assert r.status_code == 201
    assert r.json()["result"] == {"caller_id.user_password": MASK, "caller_id.user_name": "masked.user"}
    # nor can an aggregate or a query reach the hash
    for params in ({"sysparm_group_by": "user_password", "sysparm_count": "true"},
                   {"sysparm_max_fields": "user_password"}):
        r = fresh.get("/api/now/stats/sys_user", params=params)
        assert "argon2" not in r.text and r.status_code == 403
    r = fresh.get("/api/now/table/sys_user", params={"sysparm_query": "user_passwordSTARTSWITH$"})
    assert r.status_code == 403 and "argon2" not in r.text
    # writing a password works; writing back the mask changes nothing
    path = "/api/now/table/sys_user/" + sid
    r = fresh.patch(path, json={"user_password": "Masked-pass-2"})
    assert r.status_code == 200 and r.json()["result"]["user_password"] == MASK
    assert requests.get(fresh.url + "/api/now/table/incident", auth=("masked.user", "Masked-pass-2")).status_code == 200
    assert requests.get(fresh.url + "/api/now/table/incident", auth=("masked.user", "Masked-pass-1")).status_code == 401
    r = fresh.patch(path, json={"user_password": MASK, "title": "echoed"})
    assert r.status_code == 200 and r.json()["result"]["title"] == "echoed"
    assert requests.get(fresh.url + "/api/now/table/incident", auth=("masked.user", "Masked-pass-2")).status_code == 200
    user = as_user(fresh, "masked.user", "Masked-pass-2")
    r = user("GET", "/api/now/table/incident", params={"sysparm_limit": "1"})
    assert r.status_code == 200
    assert PASSWORD not in fresh.output()


def tiny(server, url, call=None):
    r = (call("POST", "/api/now/tinyurl", json={"url": url}) if call
         else server.post("/api/now/tinyurl", json={"url": url}))
    assert r.status_code == 201, r.text
    result = r.json()["result"]
    m = re.fullmatch(r"(.*)\?sysparm_tiny=([0-9a-f]{32})", result)
    assert m, result
    return m.group(1), m.group(2)


def test_tiny_url_round_trip(server):
    nums = server.get("/api/now/table/incident", params={"sysparm_fields": "number", "sysparm_limit": "3",
                                                         "sysparm_query": "ORDERBYnumber"}).json()["result"]
    numbers = [x["number"] for x in nums]
    # a long query, as Ansible would send past 2048 characters
    query = "numberIN" + ",".join(numbers + [f"INC9{i:06d}" for i in range(300)])
    long_url = (server.url + "/api/now/table/incident?" +
                requests.models.RequestEncodingMixin._encode_params(
                    {"sysparm_query": query, "sysparm_fields": "number,short_description",
                     "sysparm_exclude_reference_link": "true"}))
    assert len(long_url) > 2048
    path, tid = tiny(server, long_url)
    assert path == "api/now/table/incident"
    r = server.get("/api/now/table/incident", params={"sysparm_tiny": tid})
    assert r.status_code == 200, r.text
    rows = r.json()["result"]
    assert sorted(x["number"] for x in rows) == sorted(numbers)
    assert all(set(x) == {"number", "short_description"} for x in rows)
    assert r.headers["X-Total-Count"] == "3"
    # the caller's own parameters win over the stored ones, and page through
    r = server.get("/api/now/table/incident", params={"sysparm_tiny": tid, "sysparm_limit": "2",
                                                      "sysparm_offset": "2", "sysparm_fields": "number"})
    assert [set(x) for x in r.json()["result"]] == [{"number"}]
    assert "sysparm_tiny=" + tid in r.headers["Link"]
    # the Aggregate API expands it too
    r = server.get("/api/now/stats/incident", params={"sysparm_tiny": tid, "sysparm_count": "true"})
    assert r.status_code == 200 and r.json()["result"]["stats"]["count"] == "3"
    # the stored row, for admins
    rows = server.get("/api/now/table/sys_tiny_url", params={"tiny_url": tid}).json()["result"]
    assert len(rows) == 1 and rows[0]["data"].startswith("sysparm_query=numberIN")
    # a row made by hand is found by its tiny_url
    own = "Zz" * 16
    r = server.post("/api/now/table/sys_tiny_url", json={"tiny_url": own, "data": "sysparm_query=number%3D" + numbers[0]})
    assert r.status_code == 201 and r.json()["result"]["sys_id"] != own
    r = server.get("/api/now/table/incident", params={"sysparm_tiny": own, "sysparm_fields": "number"})
    assert r.json()["result"] == [{"number": numbers[0]}]


def test_tiny_url_shapes_and_errors(server):
    for url, path in (("incident_list.do?sysparm_query=active%3Dtrue", "incident_list.do"),
                      ("/api/now/table/problem?active=true#frag", "api/now/table/problem"),
                      ("https://example.com", ""), ("sys_user.do", "sys_user.do")):
        assert tiny(server, url)[0] == path
    for body in ({}, {"url": ""}, {"url": 5}, {"link": "x"}):
        r = server.post("/api/now/tinyurl", json=body)
        assert r.status_code == 400 and r.json()["error"]["message"] == "Invalid parameter", body
        assert r.json()["status"] == "failure"
    r = server.post("/api/now/tinyurl", data="{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["message"] == "Exception while reading request"
    r = server.post("/api/now/tinyurl")
    assert r.status_code == 400 and r.json()["error"]["detail"] == "No request body found"
    assert server.get("/api/now/tinyurl").status_code == 405
    assert requests.post(server.url + "/api/now/tinyurl", json={"url": "x?a=b"}).status_code == 401
    # an unknown id is refused, never a query without its filter
    for bad in ("0" * 32, "nope", "A" * 32):
        r = server.get("/api/now/table/incident", params={"sysparm_tiny": bad})
        assert r.status_code == 400, bad
        body = r.json()
        assert body["error"]["message"] == "Invalid parameter" and body["status"] == "failure"
        assert "sysparm_tiny" in body["error"]["detail"]


def test_tiny_url_carries_no_rights(fresh):
    nowctl(fresh, "user", "add", "tiny.itil", "--password", "Tiny-pass-123", "--role", "itil")
    nowctl(fresh, "user", "add", "tiny.plain", "--password", "Tiny-pass-123")
    itil = as_user(fresh, "tiny.itil", "Tiny-pass-123")
    plain = as_user(fresh, "tiny.plain", "Tiny-pass-123")
    # the admin's tiny URL over sys_user_has_role...
    path, tid = tiny(fresh, fresh.url + "/api/now/table/incident?sysparm_query=active%3Dtrue&sysparm_fields=number")
    r = itil("GET", "/api/now/table/incident", params={"sysparm_tiny": tid})
    assert r.status_code == 200 and r.json()["result"]
    # ...read by a user without the role gets that user's answer
    r = plain("GET", "/api/now/table/incident", params={"sysparm_tiny": tid})
    direct = plain("GET", "/api/now/table/incident", params={"sysparm_query": "active=true", "sysparm_fields": "number"})
    assert r.status_code == direct.status_code and r.json() == direct.json()
    # any user may shorten; only admins read sys_tiny_url
    _, mine = tiny(fresh, "incident_list.do?sysparm_query=active%3Dtrue", call=plain)
    r = plain("GET", "/api/now/table/sys_tiny_url")
    assert r.status_code == 403 and "argon2" not in r.text
    assert r.json()["error"]["message"] == "Insufficient rights to query records"
    assert len(fresh.get("/api/now/table/sys_tiny_url", params={"tiny_url": mine}).json()["result"]) == 1


def test_long_query_url_works(server):
    # PySNC sends up to ~10,000 characters before it switches to the Batch API
    query = "numberIN" + ",".join(f"INC{i:07d}" for i in range(1100))
    query = query[:9000]
    assert len(query) == 9000
    r = server.get("/api/now/table/incident", params={"sysparm_query": query, "sysparm_fields": "number"})
    assert r.status_code == 200, r.text[:300]
    assert len(r.url) > 9000
    assert all(x["number"] in query for x in r.json()["result"])
