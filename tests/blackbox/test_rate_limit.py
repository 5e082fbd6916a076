"""REST API rate limit rules (reference 8, 9.1): sys_rate_limit_rules enforced per node,
the precedence of single-user, role and all-users rules, clock-hour windows, the headers
and ServiceNow's 429, and the property that leaves Retry-After and X-RateLimit-Reset out."""
import time

import pytest

from conftest import as_user, nowctl

PW = "Rate-pass-123"


def body_429(rate, api="Table API"):
    return {"error": {"message": "Rate limit exceeded",
                      "detail": f"Rate limit of {rate} requests per hour for {api} exceeded"},
            "status": "failure"}


def rule(server, **fields):
    fields.setdefault("name", "test rule")
    r = server.post("/api/now/table/sys_rate_limit_rules", json=fields)
    assert r.status_code == 201, r.text
    return r.json()["result"]["sys_id"]


def user_id(server, name):
    return server.get("/api/now/table/sys_user", params={"user_name": name, "sysparm_fields": "sys_id"}
                      ).json()["result"][0]["sys_id"]


@pytest.fixture
def limited(fresh):
    for name, roles in (("rl.one", ["itil"]), ("rl.two", ["itil"]), ("rl.none", [])):
        nowctl(fresh, "user", "add", name, "--password", PW, *[a for r in roles for a in ("--role", r)])
    return fresh


def test_limit_then_429(limited):
    s = limited
    rid = rule(s, rest_api="Table API", table="incident", rate="3", type="all_users")
    one = as_user(s, "rl.one", PW)
    for left in (2, 1, 0):
        r = one("GET", "/api/now/table/incident", params={"sysparm_limit": "1"})
        assert r.status_code == 200
        now = time.time()
        assert r.headers["X-RateLimit-Limit"] == "3"
        assert r.headers["X-RateLimit-Remaining"] == str(left)
        assert r.headers["X-RateLimit-Rule"] == rid
        reset = int(r.headers["X-RateLimit-Reset"])
        assert reset % 3600 == 0 and 0 < reset - now <= 3600  # the next clock hour
    r = one("GET", "/api/now/table/incident/" + "0" * 32)
    assert r.status_code == 429
    assert r.json() == body_429(3)
    assert r.headers["Content-Type"] == "application/json;charset=UTF-8"
    assert r.headers["X-RateLimit-Limit"] == "3" and r.headers["X-RateLimit-Remaining"] == "0"
    assert r.headers["X-RateLimit-Rule"] == rid
    assert abs(int(r.headers["Retry-After"]) - (int(r.headers["X-RateLimit-Reset"]) - time.time())) <= 2
    # a denied request is not counted; every method of the API is limited
    assert one("POST", "/api/now/table/incident", json={"short_description": "x"}).status_code == 429
    # other tables and other APIs are not matched: no headers
    r = one("GET", "/api/now/table/problem", params={"sysparm_limit": "1"})
    assert r.status_code == 200 and "X-RateLimit-Limit" not in r.headers
    # counts are per user
    two = as_user(s, "rl.two", PW)
    r = two("GET", "/api/now/table/incident", params={"sysparm_limit": "1"})
    assert r.status_code == 200 and r.headers["X-RateLimit-Remaining"] == "2"
    # unauthenticated requests are refused before any count
    r = as_user(s, "rl.one", "wrong")("GET", "/api/now/table/incident")
    assert r.status_code == 401 and "X-RateLimit-Limit" not in r.headers


def test_precedence(limited):
    s = limited
    r = s.post("/api/now/table/sys_user_role", json={"name": "rl_low"})
    assert r.status_code == 201
    s.post("/api/now/table/sys_user_has_role", json={"user": user_id(s, "rl.two"), "role": "rl_low"})
    s.post("/api/now/table/sys_user_has_role", json={"user": user_id(s, "rl.one"), "role": "rl_low"})
    everyone = rule(s, rest_api="Table API", rate="50", type="all_users", table="incident")
    itil = rule(s, rest_api="Table API", rate="20", type="role", role="itil", table="incident")
    low = rule(s, rest_api="Table API", rate="10", type="role", role="rl_low", table="incident")
    mine = rule(s, rest_api="Table API", rate="30", type="single_user", user=user_id(s, "rl.one"),
                table="incident")
    seen = {}
    for name in ("rl.one", "rl.two", "rl.none"):
        r = as_user(s, name, PW)("GET", "/api/now/table/incident", params={"sysparm_limit": "1"})
        seen[name] = (r.headers.get("X-RateLimit-Rule"), r.headers.get("X-RateLimit-Limit"))
    # a single-user rule beats role rules (even lower ones); the lowest role rule wins;
    # all users only when nothing else applies
    assert seen == {"rl.one": (mine, "30"), "rl.two": (low, "10"), "rl.none": (everyone, "50")}
    assert itil
    # an inactive rule does not apply
    s.patch("/api/now/table/sys_rate_limit_rules/" + low, json={"active": "false"})
    r = as_user(s, "rl.two", PW)("GET", "/api/now/table/incident", params={"sysparm_limit": "1"})
    assert (r.headers["X-RateLimit-Rule"], r.headers["X-RateLimit-Limit"]) == (itil, "20")


def test_rule_change_resets_counts(limited):
    s = limited
    rid = rule(s, rest_api="Table API", rate="2", table="incident")
    one = as_user(s, "rl.one", PW)
    assert [one("GET", "/api/now/table/incident").status_code for _ in range(3)] == [200, 200, 429]
    r = s.patch("/api/now/table/sys_rate_limit_rules/" + rid, json={"rate": "3"})
    assert r.status_code == 200
    r = one("GET", "/api/now/table/incident")
    assert r.status_code == 200 and r.headers["X-RateLimit-Remaining"] == "2"
    # a change to another rule keeps this one's counts
    rule(s, rest_api="Table API", rate="100", table="problem")
    r = one("GET", "/api/now/table/incident")
    assert r.headers["X-RateLimit-Remaining"] == "1"
    # deleted: no limit
    assert s.delete("/api/now/table/sys_rate_limit_rules/" + rid).status_code == 204
    r = one("GET", "/api/now/table/incident")
    assert r.status_code == 200 and "X-RateLimit-Rule" not in r.headers


def test_method_resource_and_api(limited):
    s = limited
    one = as_user(s, "rl.one", PW)
    rid = rule(s, rest_api="Table API", http_method="POST", rate="0", table="incident")
    assert one("GET", "/api/now/table/incident").status_code == 200
    r = one("POST", "/api/now/table/incident", json={"short_description": "x"})
    assert r.status_code == 429 and r.json() == body_429(0)
    s.delete("/api/now/table/sys_rate_limit_rules/" + rid)
    # a resource: the list, not one record (version and parameter names do not matter)
    rule(s, rest_api="Table API", resource="GET /now/v2/table/{tableName}", rate="0")
    assert one("GET", "/api/now/table/incident").status_code == 429
    assert one("GET", "/api/now/v1/table/problem").status_code == 429
    assert one("GET", "/api/now/table/incident/" + "0" * 32).status_code == 404
    # another API by its name
    rule(s, rest_api="Aggregate API", rate="0")
    r = one("GET", "/api/now/stats/incident", params={"sysparm_count": "true"})
    assert r.status_code == 429 and r.json() == body_429(0, "Aggregate API")


def test_property_omits_headers(limited):
    s = limited
    s.set_property("snowglobe.rate_limit.omit_429_headers", "true")
    rid = rule(s, rest_api="Table API", rate="1", table="incident")
    one = as_user(s, "rl.one", PW)
    r = one("GET", "/api/now/table/incident")
    assert r.status_code == 200 and "X-RateLimit-Reset" in r.headers
    r = one("GET", "/api/now/table/incident")
    assert r.status_code == 429 and r.json() == body_429(1)
    assert "Retry-After" not in r.headers and "X-RateLimit-Reset" not in r.headers
    assert r.headers["X-RateLimit-Rule"] == rid
    s.set_property("snowglobe.rate_limit.omit_429_headers", "false")
    r = one("GET", "/api/now/table/incident")
    assert r.status_code == 429 and "Retry-After" in r.headers and "X-RateLimit-Reset" in r.headers


def test_rules_are_for_rate_limit_admins(limited):
    s = limited
    nowctl(s, "user", "add", "rl.admin", "--password", PW, "--role", "rate_limit_admin")
    admin = as_user(s, "rl.admin", PW)
    one = as_user(s, "rl.one", PW)
    r = admin("POST", "/api/now/table/sys_rate_limit_rules", json={"name": "mine", "rate": "5"})
    assert r.status_code == 201, r.text
    assert admin("GET", "/api/now/table/sys_rate_limit_rules").status_code == 200
    r = one("POST", "/api/now/table/sys_rate_limit_rules", json={"name": "nope", "rate": "5"})
    assert r.status_code == 403
    assert one("GET", "/api/now/table/sys_rate_limit_rules").status_code == 403
    # that rule (all APIs, all users, 5 an hour) applies to the admin of rules too
    r = admin("GET", "/api/now/table/sys_rate_limit_rules")
    assert r.headers["X-RateLimit-Limit"] == "5"
