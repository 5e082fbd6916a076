"""The Batch API (POST /api/now/v1/batch): ServiceNow's shapes, each item run as the batch's user
through the same routes, limits and ACLs as the request sent alone, the limits that leave items
unserviced, and the flows PySNC builds (its items made here as pysnc/client.py BatchAPI makes
them: requests.Request(...).prepare(), headers as name/value, a numeric batch_request_id).
"""
import base64
import json

import pytest
import requests

from conftest import Server, as_user, nowctl

BATCH = "/api/now/v1/batch"


def err(message, detail):
    return json.dumps({"error": {"message": message, "detail": detail}, "status": "failure"},
                      separators=(",", ":"))


def b64(data):
    if isinstance(data, (dict, list)):
        data = json.dumps(data)
    if isinstance(data, str):
        data = data.encode()
    return base64.b64encode(data).decode()


def item(id_, method, url, body=None, headers=None, **extra):
    it = {"id": id_, "method": method, "url": url,
          "headers": [{"name": k, "value": v} for k, v in (headers or {"Accept": "application/json"}).items()]}
    if body is not None:
        it["body"] = b64(body)
    it.update(extra)
    return it


def run(call, items, bid="1", status=200):
    r = call("POST", BATCH, json={"batch_request_id": bid, "rest_requests": items})
    assert r.status_code == status, r.text
    return r.json()


def by_id(data):
    return {s["id"]: s for s in data["serviced_requests"]}


def body_of(served):
    return base64.b64decode(served["body"])


def headers_of(served):
    return {h["name"].lower(): h["value"] for h in served["headers"]}


@pytest.fixture(scope="module")
def inst():
    s = Server()
    nowctl(s, "user", "add", "nobody.user", "--password", "Nobody-pass-12")
    s.admin = as_user(s, "admin", "Snowglobe-test-1")
    s.nobody = as_user(s, "nobody.user", "Nobody-pass-12")
    yield s
    s.stop()


# ---- shapes ---------------------------------------------------------------------------------

def test_the_documented_example_shape(inst):
    url = "/api/now/table/incident?sysparm_limit=1"
    r = inst.admin("POST", BATCH, json={"batch_request_id": "1", "rest_requests": [
        item("11", "GET", url), item("12", "GET", url, exclude_response_headers=True)]})
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json;charset=UTF-8"
    data = r.json()
    assert list(data) == ["batch_request_id", "serviced_requests", "unserviced_requests"]
    assert data["batch_request_id"] == "1"
    assert data["unserviced_requests"] == []
    first, second = data["serviced_requests"]
    assert sorted(first) == ["body", "execution_time", "headers", "id", "status_code", "status_text"]
    assert first["id"] == "11" and first["status_code"] == 200 and first["status_text"] == "OK"
    assert isinstance(first["execution_time"], int) and first["execution_time"] >= 0
    direct = inst.get(url)
    assert body_of(first) == direct.content
    h = headers_of(first)
    assert h["content-type"] == "application/json;charset=UTF-8"
    assert h["x-total-count"] == direct.headers["X-Total-Count"]
    assert h["link"] == direct.headers["Link"]
    assert h["content-length"] == str(len(direct.content))
    assert h["cache-control"] == "no-cache,no-store,must-revalidate,max-age=-1"
    assert all(set(e) == {"name", "value"} for e in first["headers"])
    # exclude_response_headers: an empty list, the body all the same
    assert second["headers"] == [] and body_of(second) == direct.content


def test_unversioned_path_and_numeric_ids(inst):
    r = inst.admin("POST", "/api/now/batch", json={"batch_request_id": 7, "rest_requests": [
        item(42, "GET", "/api/now/table/incident?sysparm_limit=1")]})
    assert r.status_code == 200
    data = r.json()
    # PySNC asserts str(bid) == response['batch_request_id']
    assert data["batch_request_id"] == "7"
    assert data["serviced_requests"][0]["id"] == "42"


def test_empty_batch_and_absent_id(inst):
    r = inst.admin("POST", BATCH, json={"rest_requests": []})
    assert r.status_code == 200
    assert r.json() == {"batch_request_id": "", "serviced_requests": [], "unserviced_requests": []}


# ---- each method, in order, as the request alone ----------------------------------------------

def test_post_patch_get_delete_in_order(inst):
    sid = "0123456789abcdef0123456789abcd01"
    path = f"/api/now/table/incident/{sid}"
    data = run(inst.admin, [
        item("c", "POST", "/api/now/table/incident", {"sys_id": sid, "short_description": "via batch"},
             headers={"Content-Type": "application/json", "Accept": "application/json"}),
        item("u", "PATCH", path + "?sysparm_fields=short_description,urgency",
             {"short_description": "patched", "urgency": "1"},
             headers={"Content-Type": "application/json"}),
        item("g", "GET", path + "?sysparm_fields=short_description"),
        item("d", "DELETE", path),
        item("gone", "GET", path),
    ])
    got = by_id(data)
    assert [s["id"] for s in data["serviced_requests"]] == ["c", "u", "g", "d", "gone"]
    assert got["c"]["status_code"] == 201 and got["c"]["status_text"] == "Created"
    created = json.loads(body_of(got["c"]))["result"]
    assert created["sys_id"] == sid and created["short_description"] == "via batch"
    assert headers_of(got["c"])["location"].endswith("/api/now/table/incident/" + sid)
    assert json.loads(body_of(got["u"])) == {"result": {"short_description": "patched", "urgency": "1"}}
    assert json.loads(body_of(got["g"])) == {"result": {"short_description": "patched"}}
    assert got["d"]["status_code"] == 204 and got["d"]["status_text"] == "No Content"
    assert got["d"]["body"] == ""
    assert got["gone"]["status_code"] == 404
    assert body_of(got["gone"]) == inst.get(path).content
    assert inst.get(path).status_code == 404


def test_query_arguments_are_decoded_as_the_server_does(inst):
    q = "/api/now/table/incident?sysparm_query=short_descriptionLIKEe%5EORDERBYnumber&sysparm_limit=3" \
        "&sysparm_fields=number,short_description&sysparm_display_value=all&sysparm_exclude_reference_link"
    odd = ["/api/now/table/incident?sysparm_limit=2&&sysparm_fields=number&",
           "/api/now/table/incident?sysparm_limit=2&active&sysparm_fields",
           "/api/now/table/inc%69dent?sysparm_limit=1&sysparm_fields=number&short_description=%zz",
           "/api/now/table/incident/?sysparm_limit=1&sysparm_query=number%3E%3DINC0000002"]
    got = by_id(run(inst.admin, [item("q", "GET", q), item("p", "GET", q.replace("LIKEe", "LIKE+e"))] +
                    [item(str(i), "GET", u) for i, u in enumerate(odd)]))
    assert body_of(got["q"]) == inst.get(q).content
    assert body_of(got["p"]) == inst.get(q.replace("LIKEe", "LIKE+e")).content
    for i, u in enumerate(odd):
        alone = inst.get(u)
        assert (got[str(i)]["status_code"], body_of(got[str(i)])) == (alone.status_code, alone.content), u
    assert headers_of(got["q"])["link"] == inst.get(q).headers["Link"]


# ---- ACLs, bad items -------------------------------------------------------------------------

def test_each_item_has_the_batch_users_rights(inst):
    sid = inst.get("/api/now/table/incident", params={"sysparm_limit": "1"}).json()["result"][0]["sys_id"]
    urls = [("GET", "/api/now/table/sys_user_has_role"), ("GET", "/api/now/table/incident?sysparm_limit=2"),
            ("DELETE", f"/api/now/table/incident/{sid}"), ("GET", "/api/now/stats/incident?sysparm_count=true")]
    data = run(inst.nobody, [item(str(i), m, u) for i, (m, u) in enumerate(urls)])
    got = by_id(data)
    statuses = []
    for i, (m, u) in enumerate(urls):
        alone = inst.nobody(m, u)
        assert got[str(i)]["status_code"] == alone.status_code, u
        assert body_of(got[str(i)]) == alone.content, u
        statuses.append(alone.status_code)
    assert statuses[0] == 403 and statuses[2] in (403, 404)
    assert inst.get(f"/api/now/table/incident/{sid}").status_code == 200
    # An item's own Authorization does not lend it another user's rights.
    admin_basic = "Basic " + base64.b64encode(b"admin:Snowglobe-test-1").decode()
    data = run(inst.nobody, [item("x", "GET", "/api/now/table/sys_user_has_role",
                                  headers={"Authorization": admin_basic})])
    assert data["serviced_requests"][0]["status_code"] == 403


def test_the_batch_needs_a_user(inst):
    r = requests.post(inst.url + BATCH, json={"batch_request_id": "1", "rest_requests": []})
    assert r.status_code == 401
    assert r.text == err("User Not Authenticated", "Required to provide Auth information")


def test_a_bad_item_among_good_ones(inst):
    data = run(inst.admin, [
        item("ok1", "GET", "/api/now/table/incident?sysparm_limit=1"),
        item("notable", "GET", "/api/now/table/no_such_table"),
        item("nopath", "GET", "/api/now/nothing/here"),
        item("method", "PUT", "/api/now/table/incident"),
        item("badjson", "POST", "/api/now/table/incident", "{not json",
             headers={"Content-Type": "application/json"}),
        item("nul", "GET", "/api/now/table/incident%00x"),
        item("nested", "POST", BATCH, {"rest_requests": []}, headers={"Content-Type": "application/json"}),
        item("ok2", "GET", "/api/now/table/incident?sysparm_limit=1"),
    ])
    got = by_id(data)
    assert len(got) == 8 and data["unserviced_requests"] == []
    assert got["ok1"]["status_code"] == got["ok2"]["status_code"] == 200
    for key, path, method in (("notable", "/api/now/table/no_such_table", "GET"),
                              ("nopath", "/api/now/nothing/here", "GET"),
                              ("method", "/api/now/table/incident", "PUT")):
        alone = inst.admin(method, path)
        assert got[key]["status_code"] == alone.status_code
        assert body_of(got[key]) == alone.content
    assert got["notable"]["status_code"] == 400 and got["method"]["status_code"] == 405
    assert got["badjson"]["status_code"] == 400
    assert body_of(got["badjson"]).decode() == err("Exception while reading request",
                                                   "The payload is not valid JSON.")
    assert got["nul"]["status_code"] == 400 and got["nul"]["status_text"] == "Bad Request"
    assert body_of(got["nul"]).decode() == err("Bad Request",
                                               "The request URI holds an encoded NUL character (%00)")
    assert got["nested"]["status_code"] == 400
    assert body_of(got["nested"]).decode() == err("Invalid parameter",
                                                  "A batch request cannot run inside a batch request")


def test_malformed_batches_are_refused_whole(inst):
    marker = "malformed-batch-must-not-run"
    good = item("w", "POST", "/api/now/table/incident", {"short_description": marker},
                headers={"Content-Type": "application/json"})
    cases = [
        ("{not json", err("Exception while reading request", "The payload is not valid JSON.")),
        ("[]", err("Invalid parameter", "The batch must be a JSON object")),
        ({"batch_request_id": "1"}, err("Invalid parameter", "rest_requests is required: a list of requests")),
        ({"rest_requests": {"id": "1"}}, err("Invalid parameter", "rest_requests is required: a list of requests")),
        ({"batch_request_id": {}, "rest_requests": []}, err("Invalid parameter", "batch_request_id must be a string")),
        ({"rest_requests": [good, {"method": "GET", "url": "/api/now/table/incident"}]},
         err("Invalid parameter", "rest_requests.id is required")),
        ({"rest_requests": [good, {"id": "2", "url": "/api/now/table/incident"}]},
         err("Invalid parameter", "rest_requests.method is required")),
        ({"rest_requests": [good, {"id": "2", "method": "GET"}]},
         err("Invalid parameter", "rest_requests.url is required")),
        ({"rest_requests": [good, dict(item("2", "POST", "/api/now/table/incident"), body="@@not base64@@")]},
         err("Invalid parameter", "rest_requests.body is not valid base64")),
        ({"rest_requests": [good, dict(item("2", "GET", "/api/now/table/incident"), headers=[{"value": "x"}])]},
         err("Invalid parameter", "rest_requests.headers: each header needs a name and a string value")),
        ({"rest_requests": [good, "GET /"]}, err("Invalid parameter", "rest_requests must hold request objects")),
    ]
    for body, expected in cases:
        data = body if isinstance(body, str) else json.dumps(body)
        r = inst.admin("POST", BATCH, data=data, headers={"Content-Type": "application/json"})
        assert r.status_code == 400, (body, r.text)
        assert r.text == expected, body
        assert r.headers["Content-Type"] == "application/json;charset=UTF-8"
    r = inst.admin("POST", BATCH, headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert r.text == err("Exception while reading request", "No request body found")
    assert inst.get("/api/now/table/incident", params={"short_description": marker}).json()["result"] == []


def test_base64_with_line_breaks_as_the_docs_wrap_it(inst):
    body = b64({"short_description": "wrapped body"})
    wrapped = "\n".join(body[i:i + 20] for i in range(0, len(body), 20))
    it = dict(item("w", "POST", "/api/now/table/incident?sysparm_fields=short_description",
                   headers={"Content-Type": "application/json"}), body=wrapped)
    got = run(inst.admin, [it])["serviced_requests"][0]
    assert got["status_code"] == 201
    assert json.loads(body_of(got)) == {"result": {"short_description": "wrapped body"}}


def test_an_item_without_accept_or_any_header(inst):
    url = "/api/now/table/incident?sysparm_limit=1"
    got = run(inst.admin, [{"id": "n", "method": "GET", "url": url}])["serviced_requests"][0]
    assert got["status_code"] == 200
    assert headers_of(got)["content-type"] == "application/json;charset=UTF-8"
    assert body_of(got) == inst.get(url).content


# ---- PySNC's flows ---------------------------------------------------------------------------

def pysnc_item(server, request):
    """An item as pysnc/client.py BatchAPI._add_request builds it from a requests.Request."""
    prepared = request.prepare()
    now = {"id": str(id(prepared)), "method": prepared.method,
           "url": prepared.url[prepared.url.index("/", 8):],
           "headers": [{"name": k, "value": v} for (k, v) in prepared.headers.items()]}
    if prepared.body:
        body = prepared.body if isinstance(prepared.body, bytes) else prepared.body.encode()
        now["body"] = base64.b64encode(body).decode()
    return now


def test_pysnc_long_query_through_batch(inst):
    numbers = [r["number"] for r in inst.get("/api/now/table/incident",
                                             params={"sysparm_fields": "number", "sysparm_limit": "5"}).json()["result"]]
    filler = [f"INC9{i:06d}" for i in range(900)]
    query = "numberIN" + ",".join(numbers + filler) + "^ORDERBYnumber"
    params = {"sysparm_query": query, "sysparm_display_value": "all", "sysparm_exclude_reference_link": "true",
              "sysparm_suppress_pagination_header": "true", "sysparm_limit": 100, "sysparm_offset": 0}
    assert len("&".join(f"{k}={v}" for k, v in params.items())) > 10000  # PySNC's switch to batch
    req = requests.Request("GET", inst.url + "/api/now/table/incident", params=params)
    now = pysnc_item(inst, req)
    assert len(now["url"]) > 10000
    bid = 1
    r = inst.session.post(inst.url + BATCH, json={"batch_request_id": bid, "rest_requests": [now]})
    data = r.json()
    assert str(bid) == data["batch_request_id"]
    got = data["serviced_requests"][0]
    assert got["id"] == now["id"] and got["status_code"] == 200
    result = json.loads(body_of(got))["result"]
    assert sorted(x["number"]["value"] for x in result) == sorted(numbers)
    assert int(headers_of(got)["x-total-count"]) == len(numbers)
    assert body_of(got) == inst.get("/api/now/table/incident", params=params).content


def test_pysnc_update_and_delete_multiple(inst):
    ids = []
    for i in range(3):
        ids.append(inst.post("/api/now/table/incident", json={"short_description": f"pysnc {i}"}).json()["result"]["sys_id"])
    items = [pysnc_item(inst, requests.Request("PATCH", f"{inst.url}/api/now/table/incident/{sid}",
                                               params={"sysparm_display_value": "all"},
                                               json={"urgency": "1"})) for sid in ids]
    data = run(inst.admin, items, bid=2)
    assert data["batch_request_id"] == "2"
    assert [s["status_code"] for s in data["serviced_requests"]] == [200, 200, 200]
    for sid in ids:
        assert inst.get(f"/api/now/table/incident/{sid}").json()["result"]["urgency"] == "1"
    items = [pysnc_item(inst, requests.Request("DELETE", f"{inst.url}/api/now/table/incident/{sid}")) for sid in ids]
    data = run(inst.admin, items, bid=3)
    assert [s["status_code"] for s in data["serviced_requests"]] == [204, 204, 204]
    assert all(inst.get(f"/api/now/table/incident/{sid}").status_code == 404 for sid in ids)


# ---- limits: unserviced items ----------------------------------------------------------------

def test_limits_leave_items_unserviced(fresh):
    call = as_user(fresh, "admin", "Snowglobe-test-1")
    small = "/api/now/table/incident?sysparm_limit=1"
    big = {"short_description": "x" * 400}
    fresh.set_property("glide.rest.batch.max.inputSize", "200")
    data = run(call, [item("a", "GET", small),
                      item("b", "POST", "/api/now/table/incident", big, headers={"Content-Type": "application/json"}),
                      item("c", "GET", small)])
    assert [s["id"] for s in data["serviced_requests"]] == ["a"]
    assert data["unserviced_requests"] == ["b", "c"]
    assert fresh.get("/api/now/table/incident", params={"short_description": big["short_description"]}).json()["result"] == []

    # the output limit, lowered by the header; only the offending item when the batch goes on
    fresh.set_property("glide.rest.batch.max.inputSize", "5242880")
    items = [item("a", "GET", small), item("all", "GET", "/api/now/table/incident?sysparm_limit=50"),
             item("c", "GET", small)]
    size = len(fresh.get(small).content)
    r = call("POST", BATCH, json={"batch_request_id": "x", "rest_requests": items},
             headers={"X-BATCHREQUEST-MAX-OUTPUT-SIZE": str(size + 100)})
    data = r.json()
    assert [s["id"] for s in data["serviced_requests"]] == ["a"]
    assert data["unserviced_requests"] == ["all", "c"]
    fresh.set_property("snowglobe.rest.batch.stop_at_limit", "false")
    r = call("POST", BATCH, json={"batch_request_id": "x", "rest_requests": items},
             headers={"X-BATCHREQUEST-MAX-OUTPUT-SIZE": str(size + 100)})
    data = r.json()
    assert [s["id"] for s in data["serviced_requests"]] == ["a", "c"]
    assert data["unserviced_requests"] == ["all"]
    # the header cannot raise the property
    fresh.set_property("glide.rest.batch.max.outputSize", str(size + 100))
    r = call("POST", BATCH, json={"batch_request_id": "x", "rest_requests": items},
             headers={"X-BATCHREQUEST-MAX-OUTPUT-SIZE": "99999999"})
    assert r.json()["unserviced_requests"] == ["all"]

    # the batch's time: nothing starts once it is spent
    fresh.set_property("snowglobe.rest.batch.timeout_ms", "0")
    data = run(call, [item("a", "GET", small), item("b", "GET", small)])
    assert data["serviced_requests"] == [] and data["unserviced_requests"] == ["a", "b"]




def test_a_token_scope_covers_each_item(fresh):
    """Items are checked against the REST API auth scope of the batch's token, as requests alone:
    a token whose scope covers the Batch API only gets each Table API item's 403; one whose scope
    covers the Table API only cannot call the batch."""
    nowctl(fresh, "user", "add", "batch_integration", "--web-service-only", "--role", "rest_service", "--role", "itil")
    fresh.set_property("glide.oauth.inbound.client.credential.grant_type.enabled", "true")
    calls = {}
    for scope, api in (("batch_access", "now/batch"), ("table_access", "now/table")):
        nowctl(fresh, "scope", "add", scope, "--api", api)
        out = json.loads(nowctl(fresh, "--json", "oauth", "add", scope + " app", "--grant", "client_credentials",
                                "--user", "batch_integration", "--scope", scope,
                                "--client-type", "integration_service").stdout)
        r = requests.post(fresh.url + "/oauth_token.do", data={"grant_type": "client_credentials",
                                                                "client_id": out["client_id"],
                                                                "client_secret": out["client_secret"]})
        assert r.status_code == 200, r.text
        headers = {"Authorization": "Bearer " + r.json()["access_token"]}
        calls[api] = lambda m, p, h=headers, **kw: requests.request(m, fresh.url + p, headers=h, **kw)
    url = "/api/now/table/incident?sysparm_limit=1"
    missing = err("User Not Authorized", "Missing required api access scope")
    got = run(calls["now/batch"], [item("t", "GET", url)])["serviced_requests"][0]
    assert got["status_code"] == 403 and body_of(got).decode() == missing
    assert calls["now/batch"]("GET", url).text == missing
    r = calls["now/table"]("POST", BATCH, json={"rest_requests": [item("t", "GET", url)]})
    assert r.status_code == 403 and r.text == missing
    assert calls["now/table"]("GET", url).status_code == 200
