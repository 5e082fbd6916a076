"""change_task: a task of a change request (what servicenow.itsm's change_request_task module
writes).  It extends task, numbers CTASK, references its change, and has its own state,
type and close-code choices; the itil role may work it, a plain user may not."""
import re

import pytest

from conftest import PASSWORD, Server, as_user, nowctl


@pytest.fixture(scope="module")
def srv():
    s = Server()
    nowctl(s, "user", "add", "ct.itil", "--password", PASSWORD, "--role", "itil")
    nowctl(s, "user", "add", "ct.plain", "--password", PASSWORD)
    yield s
    s.stop()


def change(srv):
    r = srv.post("/api/now/table/change_request", json={"short_description": "Patch the routers"})
    assert r.status_code == 201, r.text
    return r.json()["result"]


def test_create_numbered_and_linked(srv):
    chg = change(srv)
    body = {"change_request": chg["sys_id"], "change_task_type": "implementation", "state": "-5",
            "short_description": "Swap the line cards", "description": "in the night window"}
    r = srv.post("/api/now/table/change_task", params={"sysparm_exclude_reference_link": "true"}, json=body)
    assert r.status_code == 201, r.text
    t = r.json()["result"]
    assert re.match(r"^CTASK\d{7}$", t["number"]), t["number"]
    assert int(t["number"][5:]) > 10000
    assert t["change_request"] == chg["sys_id"]
    assert t["change_task_type"] == "implementation" and t["state"] == "-5"
    assert t["sys_class_name"] == "change_task"
    assert t["on_hold"] == "false"
    # Display values: the change's number, the choice labels.
    d = srv.get(f"/api/now/table/change_task/{t['sys_id']}", params={"sysparm_display_value": "true"}).json()
    d = d["result"]
    assert d["change_request"]["display_value"] == chg["number"]
    assert d["state"] == "Pending" and d["change_task_type"] == "Implementation"
    # A task row like any other: found through task, and by its change.
    assert srv.get(f"/api/now/table/task/{t['sys_id']}").json()["result"]["number"] == t["number"]
    rows = srv.get("/api/now/table/change_task", params={"change_request": chg["sys_id"]}).json()["result"]
    assert [x["sys_id"] for x in rows] == [t["sys_id"]]
    # The next one gets the next number.
    r = srv.post("/api/now/table/change_task", json={"change_request": chg["sys_id"]})
    assert r.status_code == 201 and int(r.json()["result"]["number"][5:]) == int(t["number"][5:]) + 1


def test_state_choices_and_close(srv):
    r = srv.get("/api/now/table/sys_choice", params={"name": "change_task", "element": "state",
                                                     "sysparm_fields": "value,label", "sysparm_query": "ORDERBYsequence"})
    got = {(c["value"], c["label"]) for c in r.json()["result"]}
    assert got == {("-5", "Pending"), ("1", "Open"), ("2", "In Progress"), ("3", "Closed"), ("4", "Canceled")}
    chg = change(srv)
    t = srv.post("/api/now/table/change_task", json={"change_request": chg["sys_id"], "state": "1",
                                                     "change_task_type": "testing"}).json()["result"]
    r = srv.patch(f"/api/now/table/change_task/{t['sys_id']}",
                  json={"on_hold": "true", "on_hold_reason": "waiting for the vendor", "state": "2"})
    assert r.status_code == 200 and r.json()["result"]["on_hold"] == "true"
    r = srv.patch(f"/api/now/table/change_task/{t['sys_id']}",
                  json={"on_hold": "false", "state": "3", "close_code": "successful_issues",
                        "close_notes": "done, one card replaced twice"},
                  params={"sysparm_display_value": "all"})
    assert r.status_code == 200, r.text
    res = r.json()["result"]
    assert res["state"] == {"value": "3", "display_value": "Closed"}
    assert res["close_code"] == {"value": "successful_issues", "display_value": "Successful with issues"}


def test_itil_may_plain_may_not(srv):
    chg = change(srv)
    itil = as_user(srv, "ct.itil", PASSWORD)
    r = itil("POST", "/api/now/table/change_task", json={"change_request": chg["sys_id"], "short_description": "i"})
    assert r.status_code == 201, r.text
    sid = r.json()["result"]["sys_id"]
    assert itil("GET", f"/api/now/table/change_task/{sid}").status_code == 200
    assert itil("PATCH", f"/api/now/table/change_task/{sid}", json={"state": "2"}).status_code == 200
    plain = as_user(srv, "ct.plain", PASSWORD)
    r = plain("POST", "/api/now/table/change_task", json={"change_request": chg["sys_id"], "short_description": "p"})
    assert r.status_code == 403
    r = plain("PATCH", f"/api/now/table/change_task/{sid}", json={"state": "3"})
    assert r.status_code in (403, 404)
    assert srv.get(f"/api/now/table/change_task/{sid}").json()["result"]["state"] == "2"
    r = plain("GET", "/api/now/table/change_task", params={"sysparm_query": f"sys_id={sid}"})
    assert r.status_code in (200, 403)
    if r.status_code == 200:
        assert r.json()["result"] == []
    assert not srv.get("/api/now/table/change_task", params={"short_description": "p"}).json()["result"]
