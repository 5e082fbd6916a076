"""The Table API over HTTP, checked against reference section 1 byte for byte."""
import json
import re
import uuid

import requests

from conftest import PASSWORD, Server

CT = "application/json;charset=UTF-8"
ADMIN = "6816f79cc0a8016401c5a33be04be441"


def err(message, detail):
    return json.dumps({"error": {"message": message, "detail": detail}, "status": "failure"},
                      separators=(",", ":"))


def incident(server, **fields):
    body = {"short_description": "black-box", **fields}
    r = server.post("/api/now/table/incident", json=body)
    assert r.status_code == 201, r.text
    return r.json()["result"]


# ---- lists ---------------------------------------------------------------

def test_list_envelope_headers_and_strings(server):
    r = server.get("/api/now/table/incident", params={"sysparm_limit": "2"})
    assert r.status_code == 200
    assert r.headers["Content-Type"] == CT
    assert int(r.headers["X-Total-Count"]) >= 7
    rows = r.json()["result"]
    assert len(rows) == 2
    for row in rows:
        for k, v in row.items():
            assert isinstance(v, (str, dict)), (k, v)
            if isinstance(v, dict):
                assert set(v) == {"link", "value"}
        assert re.fullmatch(r"[0-9a-f]{32}", row["sys_id"])
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", row["sys_created_on"])
        assert row["sys_tags"] == ""
        assert row["comments"] == ""


def test_link_header_as_captured(server):
    total = int(server.get("/api/now/table/incident", params={"sysparm_limit": "1"}).headers["X-Total-Count"])
    r = requests.get(server.url + "/api/now/table/incident?sysparm_query=active%3Dtrue&sysparm_limit=1&x=1",
                     auth=("admin", PASSWORD))
    active = int(r.headers["X-Total-Count"])
    assert 0 < active < total
    base = server.url + "/api/now/table/incident?sysparm_query=active%3Dtrue&x=1"
    assert r.headers["Link"] == (
        f'<{base}&sysparm_limit=1&sysparm_offset=0>;rel="first",'
        f'<{base}&sysparm_limit=1&sysparm_offset=-1>;rel="prev",'
        f'<{base}&sysparm_limit=1&sysparm_offset=1>;rel="next",'
        f'<{base}&sysparm_limit=1&sysparm_offset={active - 1}>;rel="last"')
    last = server.get("/api/now/table/incident",
                      params={"sysparm_limit": "1", "sysparm_offset": str(total - 1)})
    assert 'rel="next"' not in last.headers["Link"]
    quiet = server.get("/api/now/table/incident", params={"sysparm_suppress_pagination_header": "True"})
    assert "Link" not in quiet.headers
    assert "X-Total-Count" in quiet.headers


def test_offset_and_limit_page_through(server):
    everything = server.get("/api/now/table/incident", params={"sysparm_fields": "sys_id"}).json()["result"]
    pages = []
    for off in range(0, len(everything), 3):
        pages += server.get("/api/now/table/incident",
                            params={"sysparm_fields": "sys_id", "sysparm_limit": "3",
                                    "sysparm_offset": str(off)}).json()["result"]
    assert pages == everything


def test_no_count_skips_total(server):
    r = server.get("/api/now/table/incident", params={"sysparm_no_count": "true", "sysparm_limit": "1"})
    assert r.status_code == 200
    assert "X-Total-Count" not in r.headers


def test_empty_list_v1_404_v2_200(server):
    q = {"sysparm_query": "number=NOPE"}
    for path in ("/api/now/table/incident", "/api/now/v2/table/incident"):
        r = server.get(path, params=q)
        assert r.status_code == 200 and r.text == '{"result":[]}'
        assert r.headers["X-Total-Count"] == "0"
    r = server.get("/api/now/v1/table/incident", params=q)
    assert r.status_code == 404
    assert r.text == err("No Record found",
                         "Records matching query not found. Check query parameter or offset parameter")


def test_name_value_filters_and_query(server):
    r = server.get("/api/now/table/incident", params={"number": "INC0010001"})
    assert [x["number"] for x in r.json()["result"]] == ["INC0010001"]
    r = server.get("/api/now/table/incident", params={"state": "Closed", "sysparm_fields": "number"})
    assert [x["number"] for x in r.json()["result"]] == ["INC0010005"]
    r = server.get("/api/now/table/incident", params={"assigned_to": "David Loo", "sysparm_fields": "number"})
    assert [x["number"] for x in r.json()["result"]] == ["INC0010002"]
    r = server.get("/api/now/table/incident",
                   params={"sysparm_query": "state=1^ORstate=2^ORDERBYDESCnumber", "sysparm_fields": "number"})
    numbers = [x["number"] for x in r.json()["result"]]
    assert numbers == sorted(numbers, reverse=True) and "INC0010002" in numbers
    r = server.get("/api/now/table/incident",
                   params={"sysparm_query": "caller_id.user_name=abel.tuter^active=true", "sysparm_fields": "number"})
    assert sorted(x["number"] for x in r.json()["result"]) == ["INC0010001", "INC0010003"]


def test_parent_table_returns_every_class(server):
    r = server.get("/api/now/table/task", params={"sysparm_fields": "number,sys_class_name"})
    classes = {row["sys_class_name"] for row in r.json()["result"]}
    assert {"incident", "problem", "change_request", "task"} <= classes
    r = server.get("/api/now/table/task", params={"sysparm_query": "sys_class_name=task"})
    assert {row["sys_class_name"] for row in r.json()["result"]} == {"task"}
    r = server.get("/api/now/table/cmdb_ci", params={"sysparm_query": "sys_class_nameINSTANCEOFcmdb_ci_server"})
    assert {row["sys_class_name"] for row in r.json()["result"]} == {"cmdb_ci_linux_server", "cmdb_ci_win_server"}


# ---- single records --------------------------------------------------------

def test_unknown_table_and_missing_record(server):
    r = server.get("/api/now/table/no_such_table")
    assert r.status_code == 400
    assert r.text == err("Invalid table no_such_table", None)
    assert "X-Total-Count" not in r.headers
    r = server.get("/api/now/table/incident/0123456789abcdef0123456789abcdef")
    assert r.status_code == 404
    assert r.text == err("No Record found", "Record doesn't exist or ACL restricts the record retrieval")
    for method in ("patch", "put", "delete"):
        r = getattr(server, method)("/api/now/table/incident/0123456789abcdef0123456789abcdef",
                                    **({} if method == "delete" else {"json": {"state": "2"}}))
        assert r.status_code == 404, method


def test_create_read_update_delete(server):
    r = server.post("/api/now/table/incident",
                    json={"short_description": "crud", "impact": "1", "urgency": "1", "bogus": "x"})
    assert r.status_code == 201
    rec = r.json()["result"]
    assert r.headers["Location"] == f"{server.url}/api/now/table/incident/{rec['sys_id']}"
    assert rec["priority"] == "1" and rec["state"] == "1" and rec["active"] == "true"
    assert re.fullmatch(r"INC\d{7}", rec["number"])
    assert "bogus" not in rec
    assert rec["sys_created_by"] == "admin" and rec["sys_mod_count"] == "0"
    assert rec["caller_id"] == ""
    path = f"/api/now/table/incident/{rec['sys_id']}"
    r = server.put(path, json={"short_description": "put is patch"})
    assert r.status_code == 200
    got = r.json()["result"]
    assert got["short_description"] == "put is patch" and got["priority"] == "1"
    assert got["sys_mod_count"] == "1"
    r = server.delete(path)
    assert r.status_code == 204 and r.content == b""
    assert server.get(path).status_code == 404


def test_client_sys_id_array_body_and_single_quotes(server):
    sid = "abcdef0123456789abcdef0123456789"
    r = server.post("/api/now/table/incident",
                    json=[{"sys_id": sid, "short_description": "first"}, {"short_description": "second"}])
    assert r.status_code == 201
    assert r.json()["result"]["sys_id"] == sid
    r = server.get("/api/now/table/incident", params={"short_description": "second"})
    assert r.json()["result"] == []
    r = server.post("/api/now/table/incident", data="{'short_description':'quoted \"docs\" style'}",
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 201
    assert r.json()["result"]["short_description"] == 'quoted "docs" style'


def test_bad_bodies_and_methods(server):
    r = server.post("/api/now/table/incident", data="{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert r.text == err("Exception while reading request", "The payload is not valid JSON.")
    r = server.patch("/api/now/table/incident")
    assert r.status_code == 405
    r = server.post("/api/now/table/incident/0123456789abcdef0123456789abcdef", json={})
    assert r.status_code == 405
    r = server.get("/api/now/nothing/here")
    assert r.status_code == 400
    assert r.text == err("Requested URI does not represent any resource", None)


def test_head_is_get_without_body(server):
    r = server.session.head(server.url + "/api/now/table/incident?sysparm_limit=1")
    assert r.status_code == 200
    assert r.headers["X-Total-Count"]
    assert r.content == b""


def test_no_response_body_header(server):
    r = server.post("/api/now/table/incident", json={"short_description": "quiet"},
                    headers={"X-no-response-body": "true"})
    assert r.status_code == 201 and r.content == b"" and r.headers["Location"]


# ---- shapes ----------------------------------------------------------------

def test_reference_shapes(server):
    rec = incident(server, caller_id=ADMIN)
    path = f"/api/now/table/incident/{rec['sys_id']}"
    link = f"{server.url}/api/now/table/sys_user/{ADMIN}"
    expect = {
        ("false", "false"): {"link": link, "value": ADMIN},
        ("false", "true"): ADMIN,
        ("true", "false"): {"display_value": "System Administrator", "link": link},
        ("true", "true"): "System Administrator",
        ("all", "false"): {"display_value": "System Administrator", "value": ADMIN, "link": link},
        ("all", "true"): {"display_value": "System Administrator", "value": ADMIN},
    }
    for (dv, ex), want in expect.items():
        r = server.get(path, params={"sysparm_display_value": dv, "sysparm_exclude_reference_link": ex,
                                     "sysparm_fields": "caller_id,assigned_to,state"})
        got = r.json()["result"]
        assert got["caller_id"] == want, (dv, ex)
        empty = {"display_value": "", "value": ""} if dv == "all" else ""
        assert got["assigned_to"] == empty, (dv, ex)
        assert got["state"] == {"false": "1", "true": "New", "all": {"display_value": "New", "value": "1"}}[dv]


def test_fields_order_and_dot_walk(server):
    rec = incident(server, caller_id=ADMIN)
    r = server.get(f"/api/now/table/incident/{rec['sys_id']}",
                   params={"sysparm_fields": "number,caller_id.email,nonsense,sys_id, state"})
    got = r.json()["result"]
    assert list(got) == ["number", "caller_id.email", "sys_id", "state"]
    assert got["caller_id.email"] == "admin@example.com"


def test_journal_fields(server):
    rec = incident(server, comments="first comment")
    path = f"/api/now/table/incident/{rec['sys_id']}"
    assert rec["comments"] == ""
    server.patch(path, json={"work_notes": "a work note"})
    got = server.get(path, params={"sysparm_display_value": "true",
                                   "sysparm_fields": "comments,work_notes"}).json()["result"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d - System Administrator \(Additional comments\)\n"
                        r"first comment\n\n", got["comments"])
    assert got["work_notes"].endswith(" - System Administrator (Work notes)\na work note\n\n")
    r = server.get("/api/now/table/sys_journal_field", params={"element_id": rec["sys_id"]})
    assert sorted(x["element"] for x in r.json()["result"]) == ["comments", "work_notes"]


def test_list_display_values_match_single_reads(server):
    """A page's journal histories are read in one query and referenced records once; every
    record of the page must still show exactly what reading it alone shows."""
    tag = uuid.uuid4().hex[:8]
    recs = [incident(server, short_description=f"{tag}-{i}", caller_id=ADMIN if i % 2 else "")
            for i in range(4)]
    for i, rec in enumerate(recs[:3]):
        for k in range(i + 1):
            server.patch(f"/api/now/table/incident/{rec['sys_id']}",
                         json={"comments": f"c{i}{k}", "work_notes": f"w{i}{k}"})
    fields = "sys_id,comments,work_notes,comments_and_work_notes,caller_id,state,opened_at"
    for dv in ("true", "all"):
        page = server.get("/api/now/table/incident", params={
            "sysparm_query": f"short_descriptionSTARTSWITH{tag}",
            "sysparm_display_value": dv, "sysparm_fields": fields}).json()["result"]
        assert len(page) == 4
        for row in page:
            sid = row["sys_id"] if dv == "true" else row["sys_id"]["value"]
            alone = server.get(f"/api/now/table/incident/{sid}",
                               params={"sysparm_display_value": dv, "sysparm_fields": fields}).json()["result"]
            assert row == alone
    texts = {r["sys_id"]: r for r in server.get("/api/now/table/incident", params={
        "sysparm_query": f"short_descriptionSTARTSWITH{tag}", "sysparm_display_value": "true",
        "sysparm_fields": "sys_id,comments_and_work_notes,caller_id"}).json()["result"]}
    assert texts[recs[2]["sys_id"]]["comments_and_work_notes"].count("(Work notes)") == 3
    assert texts[recs[3]["sys_id"]]["comments_and_work_notes"] == ""
    assert texts[recs[1]["sys_id"]]["caller_id"]["display_value"] == "System Administrator"


def test_long_queries_are_answered(server):
    """A sys_idIN list of 1,500 ids (~50 KB of URL) is answered; the Link header, which
    repeats the query four times, is left out when it would not fit the connection's memory
    (the connection used to be dropped without an answer)."""
    rec = incident(server, short_description="long query")
    for n, link in ((100, True), (1500, False)):
        ids = [uuid.uuid4().hex for _ in range(n - 1)] + [rec["sys_id"]]
        r = server.get("/api/now/table/incident", params={"sysparm_query": "sys_idIN" + ",".join(ids),
                                                           "sysparm_fields": "sys_id"})
        assert r.status_code == 200
        assert r.json()["result"] == [{"sys_id": rec["sys_id"]}]
        assert r.headers["X-Total-Count"] == "1"
        assert ("Link" in r.headers) == link
    # Beyond the connection's memory (~60 KB of URL) the request is refused, not dropped.
    ids = [uuid.uuid4().hex for _ in range(2500)]
    r = server.get("/api/now/table/incident", params={"sysparm_query": "sys_idIN" + ",".join(ids)})
    assert r.status_code == 414


def test_booleans_are_case_insensitive(server):
    rec = incident(server, caller_id=ADMIN)
    r = server.get(f"/api/now/table/incident/{rec['sys_id']}",
                   params={"sysparm_display_value": "True", "sysparm_exclude_reference_link": "True",
                           "sysparm_fields": "caller_id"})
    assert r.json()["result"]["caller_id"] == "System Administrator"


def test_input_display_value(server):
    r = server.post("/api/now/table/incident", params={"sysparm_input_display_value": "true"},
                    json={"short_description": "dv", "caller_id": "Abel Tuter", "state": "In Progress"})
    rec = r.json()["result"]
    assert rec["state"] == "2"
    users = server.get("/api/now/table/sys_user", params={"user_name": "abel.tuter"}).json()["result"]
    assert rec["caller_id"]["value"] == users[0]["sys_id"]


def test_time_zone_of_the_user(fresh):
    users = fresh.get("/api/now/table/sys_user", params={"user_name": "beth.anglin"}).json()["result"]
    path = f"/api/now/table/sys_user/{users[0]['sys_id']}"
    fresh.patch(path, json={"user_password": "Beth-pass-1", "time_zone": "America/New_York"})
    beth = requests.Session()
    beth.auth = ("beth.anglin", "Beth-pass-1")
    r = beth.post(fresh.url + "/api/now/table/incident", params={"sysparm_input_display_value": "true"},
                  json={"short_description": "tz", "follow_up": "2026-01-15 09:30:00"})
    rec = r.json()["result"]
    assert rec["follow_up"] == "2026-01-15 14:30:00"  # stored in UTC
    r = beth.get(fresh.url + f"/api/now/table/incident/{rec['sys_id']}",
                 params={"sysparm_display_value": "all", "sysparm_fields": "follow_up"})
    assert r.json()["result"]["follow_up"] == {"display_value": "2026-01-15 09:30:00",
                                              "value": "2026-01-15 14:30:00"}


# ---- ITSM semantics ---------------------------------------------------------

def test_resolve_needs_code_and_notes(server):
    rec = incident(server)
    path = f"/api/now/table/incident/{rec['sys_id']}"
    r = server.patch(path, json={"state": "6"})
    assert r.status_code == 403
    assert r.text == err("Operation Failed", "Data Policy Exception: \nThe following fields are mandatory: "
                                             "Resolution code, Resolution notes")
    r = server.patch(path, json={"state": "6", "close_code": "Solution provided", "close_notes": "done"})
    got = r.json()["result"]
    assert got["state"] == "6" and got["incident_state"] == "6" and got["active"] == "true"
    assert got["resolved_at"] and got["resolved_by"]["value"] == ADMIN
    got = server.patch(path, json={"state": "7"}).json()["result"]
    assert got["active"] == "false" and got["closed_at"]


def test_priority_follows_impact_and_urgency(server):
    rec = incident(server, impact="2", urgency="1")
    assert rec["priority"] == "2"
    got = server.patch(f"/api/now/table/incident/{rec['sys_id']}", json={"urgency": "3", "priority": "1"}).json()
    assert got["result"]["priority"] == "4"


def test_choice_values_outside_the_list_are_not_applied(server):
    rec = incident(server, category="network")
    got = server.patch(f"/api/now/table/incident/{rec['sys_id']}",
                       json={"category": "made-up", "description": "kept"}).json()["result"]
    assert got["category"] == "network" and got["description"] == "kept"
    got = server.patch(f"/api/now/table/incident/{rec['sys_id']}", json={"description": ""}).json()["result"]
    assert got["description"] == ""


# ---- dictionary as data ------------------------------------------------------

def test_new_field_and_table_through_the_api(fresh):
    r = fresh.post("/api/now/table/sys_dictionary",
                   json={"name": "incident", "element": "u_vendor_ref", "internal_type": "string",
                         "column_label": "Vendor reference", "max_length": "5"})
    assert r.status_code == 201, r.text
    rec = incident(fresh, u_vendor_ref="ABCDEFGH")
    assert rec["u_vendor_ref"] == "ABCDE"
    r = fresh.get("/api/now/table/incident", params={"u_vendor_ref": "ABCDE"})
    assert len(r.json()["result"]) == 1
    r = fresh.post("/api/now/table/sys_db_object", json={"name": "u_asset_note", "label": "Asset note"})
    assert r.status_code == 201
    fresh.post("/api/now/table/sys_dictionary", json={"name": "u_asset_note", "element": "u_text"})
    r = fresh.post("/api/now/table/u_asset_note", json={"u_text": "hello"})
    assert r.status_code == 201 and r.json()["result"]["u_text"] == "hello"
    r = fresh.get("/api/now/table/sys_dictionary", params={"name": "u_asset_note", "sysparm_fields": "element"})
    assert {"sys_id", "sys_created_on", "u_text"} <= {x["element"] for x in r.json()["result"]}


# ---- limits, base URL ---------------------------------------------------------

def test_body_limit_and_base_url(fresh):
    fresh.set_property("glide.rest.max_content_length", "1000")
    r = fresh.post("/api/now/table/incident", data=json.dumps({"short_description": "x" * 2000}),
                   headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    n = len(json.dumps({"short_description": "x" * 2000}))
    assert r.text == err("Exception while reading request",
                         f"Rejected large REST payload with content-length = {n} bytes. Max allowed: 1000 bytes.")
    fresh.set_property("glide.servlet.uri", "https://snowglobe.example.com/")
    r = fresh.get("/api/now/table/incident", params={"sysparm_limit": "1", "sysparm_fields": "caller_id"})
    assert r.headers["Link"].startswith("<https://snowglobe.example.com/api/now/table/incident?")
    rec = incident(fresh, caller_id=ADMIN)
    assert rec["caller_id"]["link"] == f"https://snowglobe.example.com/api/now/table/sys_user/{ADMIN}"


# ---- authentication ------------------------------------------------------------

def test_authentication_failures(fresh):
    unauth = err("User Not Authenticated", "Required to provide Auth information")
    for auth in (None, ("admin", "wrong"), ("nobody", "x")):
        r = requests.get(fresh.url + "/api/now/table/incident", auth=auth)
        assert r.status_code == 401
        assert r.text == unauth
        assert r.headers["WWW-Authenticate"] == 'BASIC realm="Service-now"'
    users = fresh.get("/api/now/table/sys_user", params={"user_name": "abel.tuter"}).json()["result"]
    path = f"/api/now/table/sys_user/{users[0]['sys_id']}"
    fresh.patch(path, json={"user_password": "Abel-pass-1"})
    got = fresh.get(path).json()["result"]
    assert got["user_password"] == "********"  # masked [9.1]
    assert requests.get(fresh.url + "/api/now/table/incident", auth=("abel.tuter", "Abel-pass-1")).status_code == 200
    fresh.patch(path, json={"locked_out": "true"})
    assert requests.get(fresh.url + "/api/now/table/incident", auth=("abel.tuter", "Abel-pass-1")).status_code == 401
    fresh.patch(path, json={"locked_out": "false", "active": "false"})
    assert requests.get(fresh.url + "/api/now/table/incident", auth=("abel.tuter", "Abel-pass-1")).status_code == 401
    assert "Abel-pass-1" not in fresh.output()


def test_https():
    s = Server(demo=False, tls=True)
    try:
        r = s.get("/api/now/table/incident", params={"sysparm_limit": "1"})
        assert r.status_code == 200 and r.text == '{"result":[]}'
        rec = s.post("/api/now/table/incident", json={"short_description": "tls"})
        assert rec.headers["Location"].startswith(f"https://127.0.0.1:{s.port}/api/now/table/incident/")
    finally:
        s.stop()


def test_total_count_follows_every_write(fresh):
    """X-Total-Count is remembered between requests, never past a write (in or out of process)."""
    count = lambda: int(fresh.get("/api/now/table/incident", params={"sysparm_limit": "1",
                                                                   "active": "true"}).headers["X-Total-Count"])
    before = count()
    assert count() == before
    rec = incident(fresh)
    assert count() == before + 1
    fresh.patch(f"/api/now/table/incident/{rec['sys_id']}", json={"state": "8"})
    assert count() == before
    import os
    import subprocess
    from conftest import BIN
    subprocess.run([os.path.join(BIN, "nowctl"), *fresh.where, "table", "create", "incident",
                    "short_description=offline"], check=True, capture_output=True)
    assert count() == before + 1
