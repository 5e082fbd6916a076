"""The encoded query language through the Table API, and the Aggregate API (reference 2, 3.1)."""
import json


def numbers(r):
    return [row["number"] for row in r.json()["result"]]


def test_query_features_over_http(fresh):
    get = lambda q, **kw: fresh.get("/api/now/table/incident",
                                    params={"sysparm_query": q, "sysparm_fields": "number", **kw})
    assert numbers(get("priority<=2^ORDERBYnumber")) == ["INC0010002", "INC0010007"]
    assert numbers(get("stateIN6,7^ORstate=8^ORDERBYDESCnumber")) == ["INC0010006", "INC0010005", "INC0010004"]
    assert numbers(get("caller_id.name=Abel Tuter^active=true^NQnumber=INC0010002^ORDERBYnumber")) == \
        ["INC0010001", "INC0010002", "INC0010003"]
    assert numbers(get("opened_at>javascript:gs.daysAgoStart(1)^ORDERBYnumber")) == \
        [f"INC001000{i}" for i in range(1, 8)]
    assert numbers(get("opened_at<javascript:gs.daysAgoStart(1)")) == []
    assert numbers(get("assignment_group.name=Network^ORassignment_group.name=Hardware^ORDERBYnumber")) == \
        ["INC0010002", "INC0010003", "INC0010005"]
    assert numbers(get("short_descriptionLIKEemail^ORDERBYnumber")) == ["INC0010001", "INC0010006"]
    assert numbers(get("cmdb_ci.sys_class_nameINSTANCEOFcmdb_ci_server^ORDERBYcmdb_ci.name")) == \
        ["INC0010007", "INC0010001"]
    # PySNC's shape: ORDERBYsys_id appended, display_value=all, exclude links
    r = fresh.get("/api/now/table/incident", params={
        "sysparm_query": "active=true^ORDERBYsys_id", "sysparm_display_value": "all",
        "sysparm_exclude_reference_link": "true", "sysparm_suppress_pagination_header": "true",
        "sysparm_limit": "2"})
    ids = [row["sys_id"]["value"] for row in r.json()["result"]]
    assert ids == sorted(ids) and r.headers["X-Total-Count"] == "5"
    # an unknown field is dropped ... unless the property says no rows
    assert len(numbers(get("no_such_field=1"))) == 7
    fresh.set_property("glide.invalid_query.returns_no_rows", "true")
    assert numbers(get("no_such_field=1")) == []


def test_long_query_strings(fresh):
    ids = ",".join(["0123456789abcdef0123456789abcdef"] * 400)  # > 10,000 characters
    r = fresh.get("/api/now/table/incident", params={"sysparm_query": f"sys_idIN{ids}^ORnumber=INC0010001"})
    assert r.status_code == 200
    assert numbers(r) == ["INC0010001"]


def test_aggregate_api(fresh):
    r = fresh.get("/api/now/stats/incident", params={"sysparm_count": "true"})
    assert r.status_code == 200
    assert r.text == '{"result":{"stats":{"count":"7"}}}'
    r = fresh.get("/api/now/v1/stats/incident",
                  params={"sysparm_count": "true", "sysparm_avg_fields": "priority",
                          "sysparm_sum_fields": "priority,reopen_count", "sysparm_min_fields": "number",
                          "sysparm_max_fields": "number", "sysparm_query": "active=true"})
    stats = r.json()["result"]["stats"]
    assert stats == {"count": "5", "avg": {"priority": "3.0000"},
                     "sum": {"priority": "15", "reopen_count": "0"},
                     "min": {"number": "INC0010001"}, "max": {"number": "INC0010007"}}
    r = fresh.get("/api/now/stats/incident",
                  params={"sysparm_count": "true", "sysparm_group_by": "state",
                          "sysparm_display_value": "true", "sysparm_having": "count^*^>^1"})
    assert r.json()["result"] == [
        {"stats": {"count": "2"}, "groupby_fields": [{"value": "1", "field": "state", "display_value": "New"}]}]
    r = fresh.get("/api/now/stats/incident",
                  params={"sysparm_count": "true", "sysparm_group_by": "priority",
                          "sysparm_order_by": "COUNT^DESC"})
    groups = r.json()["result"]
    counts = [int(g["stats"]["count"]) for g in groups]
    assert counts == sorted(counts, reverse=True) and sum(counts) == 7
    assert all(set(g["groupby_fields"][0]) == {"value", "field"} for g in groups)
    r = fresh.get("/api/now/stats/task", params={"sysparm_count": "true", "sysparm_group_by": "sys_class_name"})
    by_class = {g["groupby_fields"][0]["value"]: g["stats"]["count"] for g in r.json()["result"]}
    assert by_class == {"change_request": "2", "incident": "7", "problem": "9", "task": "1"}


def test_aggregate_errors(fresh):
    r = fresh.get("/api/now/stats/no_table", params={"sysparm_count": "true"})
    assert r.status_code == 400 and r.json()["error"]["message"] == "Invalid table no_table"
    r = fresh.get("/api/now/stats/incident")
    assert r.status_code == 400
    assert r.text == json.dumps({"error": {"message": "No request parameter for aggregate operation specified",
                                           "detail": None}, "status": "failure"}, separators=(",", ":"))
