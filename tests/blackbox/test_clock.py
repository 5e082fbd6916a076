"""The instance's clock (issue 18, item 4): nowctl clock set|advance|freeze|real|show, online through
/_snowglobe/clock and offline on the data dir.  Instance time drives the record stamps, token expiry,
scheduled jobs and the query language's date helpers; the admin's only."""
import datetime
import json
import uuid

import pytest
import requests

from conftest import PASSWORD, Server, as_user, nowctl, wait_for

UNAUTH = {"error": {"message": "User Not Authenticated", "detail": "Required to provide Auth information"},
          "status": "failure"}
DENIED = '{"error_description":"access_denied","error":"server_error"}'


@pytest.fixture(scope="module")
def srv():
    s = Server(demo=False)
    yield s
    s.stop()


@pytest.fixture(autouse=True)
def real_clock(srv):
    yield
    assert srv.post("/_snowglobe/clock", json={"action": "real"}).status_code == 200


def clock(s, **body):
    r = s.post("/_snowglobe/clock", json=body)
    assert r.status_code == 200, r.text
    return r.json()["result"]


def parse(t):
    return datetime.datetime.strptime(t, "%Y-%m-%d %H:%M:%S")


def incident(s, **fields):
    r = s.post("/api/now/table/incident", json={"short_description": "clock", **fields})
    assert r.status_code == 201, r.text
    return r.json()["result"]


def test_set_show_advance_freeze_real_and_the_stamps(srv):
    res = clock(srv, action="set", time="2030-06-01 12:00:00")
    assert res["mode"] == "offset" and not res["frozen"]
    assert abs((parse(res["now"]) - parse("2030-06-01 12:00:00")).total_seconds()) <= 2
    rec = incident(srv)
    assert abs((parse(rec["sys_created_on"]) - parse("2030-06-01 12:00:00")).total_seconds()) <= 5
    # the same setting read through nowctl, online and offline
    out = json.loads(nowctl(srv, "--json", "clock", "show").stdout)
    assert out["now"].startswith("2030-06-01")
    out = json.loads(nowctl(srv, "--json", "clock", "show", offline=True).stdout)
    assert out["now"].startswith("2030-06-01") and out["mode"] == "offset"

    out = json.loads(nowctl(srv, "--json", "clock", "advance", "1d2h").stdout)
    assert out["now"].startswith("2030-06-02 14:")
    r = srv.patch(f"/api/now/table/incident/{rec['sys_id']}", json={"short_description": "later"})
    assert r.json()["result"]["sys_updated_on"].startswith("2030-06-02 14:")
    assert r.json()["result"]["sys_created_on"] == rec["sys_created_on"]

    out = json.loads(nowctl(srv, "--json", "clock", "freeze", "2031-01-01 00:00:00").stdout)
    assert out == {**out, "now": "2031-01-01 00:00:00", "mode": "frozen", "frozen": True}
    out = json.loads(nowctl(srv, "--json", "clock", "real").stdout)
    assert out["mode"] == "real" and out["offset_seconds"] == 0
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    assert abs((parse(out["now"]) - now).total_seconds()) <= 5
    assert abs((parse(incident(srv)["sys_created_on"]) - now).total_seconds()) <= 5


def test_frozen_clock_gives_300_updates_one_second(srv):
    clock(srv, action="freeze", time="2029-02-03 04:05:06")
    rec = incident(srv)
    assert rec["sys_created_on"] == "2029-02-03 04:05:06"
    stamps = set()
    with requests.Session() as s:
        s.auth = ("admin", PASSWORD)
        for i in range(300):
            r = s.patch(f"{srv.url}/api/now/table/incident/{rec['sys_id']}", json={"description": str(i)},
                        headers={"Accept": "application/json"})
            assert r.status_code == 200, r.text
            stamps.add(r.json()["result"]["sys_updated_on"])
    assert stamps == {"2029-02-03 04:05:06"}
    r = srv.get(f"/api/now/table/incident/{rec['sys_id']}", params={"sysparm_fields": "sys_mod_count"})
    assert r.json()["result"]["sys_mod_count"] == "300"
    # advance moves a frozen clock and keeps it frozen
    res = clock(srv, action="advance", by="90s")
    assert res["now"] == "2029-02-03 04:06:36" and res["frozen"]


def test_a_token_aged_past_its_expiry_is_refused(srv):
    nowctl(srv, "user", "add", "clock.client", "--machine", "--password", "Clock-pass-12", "--role", "itil")
    out = json.loads(nowctl(srv, "--json", "oauth", "add", "clock-app", "--grant", "password",
                            "--scope", "useraccount").stdout)
    form = dict(grant_type="password", client_id=out["client_id"], client_secret=out["client_secret"],
                username="clock.client", password="Clock-pass-12")
    r = requests.post(srv.url + "/oauth_token.do", data=form)
    assert r.status_code == 200, r.text
    access, refresh = r.json()["access_token"], r.json()["refresh_token"]

    def get(tok):
        return requests.get(srv.url + "/api/now/table/incident?sysparm_limit=1",
                            headers={"Authorization": f"Bearer {tok}", "Accept": "application/json"})

    assert get(access).status_code == 200
    clock(srv, action="advance", by="29m")
    assert get(access).status_code == 200
    clock(srv, action="advance", by="2m")  # past the 1,799 s lifespan
    r = get(access)
    assert r.status_code == 401 and r.json() == UNAUTH
    # the refresh token (100 days) still gives a new access token ...
    r = requests.post(srv.url + "/oauth_token.do", data=dict(
        grant_type="refresh_token", client_id=form["client_id"], client_secret=form["client_secret"],
        refresh_token=refresh))
    assert r.status_code == 200, r.text
    assert get(r.json()["access_token"]).status_code == 200
    # ... until it too is aged past its expiry
    clock(srv, action="advance", by="101d")
    r = requests.post(srv.url + "/oauth_token.do", data=dict(
        grant_type="refresh_token", client_id=form["client_id"], client_secret=form["client_secret"],
        refresh_token=refresh))
    assert r.status_code == 401 and r.text == DENIED
    # back to the real clock, a fresh token works at once
    clock(srv, action="real")
    r = requests.post(srv.url + "/oauth_token.do", data=form)
    assert get(r.json()["access_token"]).status_code == 200


def test_a_scheduled_job_runs_once_the_clock_passes_it(srv):
    marker = "clockjob-" + uuid.uuid4().hex[:8]
    due = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=3)).strftime(
        "%Y-%m-%d %H:%M:%S")
    script = ("var g = new GlideRecord('incident'); g.initialize(); "
              f"g.short_description = '{marker}'; g.insert();")
    r = srv.post("/api/now/table/sysauto_script",
                 json={"name": marker, "run_type": "once", "run_start": due, "script": script})
    assert r.status_code == 201, r.text

    def ran():
        r = srv.get("/api/now/table/incident", params={"short_description": marker, "sysparm_fields": "sys_id"})
        return len(r.json()["result"])

    clock(srv, action="advance", by="2h")
    assert not wait_for(lambda: ran() > 0, 2.5)  # not yet due at instance time
    clock(srv, action="advance", by="2h")
    assert wait_for(lambda: ran() == 1, 15)


def test_date_helpers_and_relative_queries_move_with_the_clock(srv):
    clock(srv, action="freeze", time="2028-03-10 10:00:00")
    marker = "rel-" + uuid.uuid4().hex[:8]
    incident(srv, short_description=marker)

    def found(q):
        r = srv.get("/api/now/table/incident", params={"sysparm_query": f"short_description={marker}^{q}"})
        assert r.status_code == 200, r.text
        return len(r.json()["result"])

    assert found("sys_created_on>javascript:gs.daysAgo(1)") == 1
    assert found("sys_created_onRELATIVEGT@hour@ago@2") == 1
    clock(srv, action="advance", by="3d")
    assert found("sys_created_on>javascript:gs.daysAgo(1)") == 0
    assert found("sys_created_onRELATIVEGT@hour@ago@2") == 0
    assert found("sys_created_on>javascript:gs.daysAgo(4)") == 1
    # the scripts' clock too (a background script, run offline: the setting is the instance's)
    out = nowctl(srv, "script", "run", "-", offline=True,
                 stdin="gs.print(new GlideDateTime().getValue() + '|' + gs.daysAgo(0) + '|' + "
                       "new Date().toISOString() + '|' + Date.now())").stdout
    assert "2028-03-13 10:00:00|2028-03-13 10:00:00|2028-03-13T10:00:00.000Z|1836554400000" in out, out


def test_offline_setting_is_seen_by_the_running_and_the_next_nowd(srv):
    nowctl(srv, "clock", "set", "2035-05-05 05:05:05", offline=True)
    # the running nowd reads it at its next request (sg_model_sync, with the change counters)
    assert clock_now(srv).startswith("2035-05-05")
    rec = incident(srv)
    assert rec["sys_created_on"].startswith("2035-05-05")
    srv.proc.terminate()
    srv.proc.wait(timeout=30)
    srv.log.close()
    nowctl(srv, "clock", "freeze", "2036-01-01 00:00:00", offline=True)
    srv.start()
    assert clock_now(srv) == "2036-01-01 00:00:00"


def clock_now(s):
    r = s.get("/_snowglobe/clock")
    assert r.status_code == 200, r.text
    return r.json()["result"]["now"]


def test_admin_only_and_bad_input(srv):
    nowctl(srv, "user", "add", "clock.itil", "--password", PASSWORD, "--role", "itil")
    call = as_user(srv, "clock.itil", PASSWORD)
    for r in (call("GET", "/_snowglobe/clock"), call("POST", "/_snowglobe/clock", json={"action": "real"})):
        assert r.status_code == 403
        assert r.json()["error"]["message"] == "Insufficient rights"
    assert requests.get(srv.url + "/_snowglobe/clock").status_code == 401
    for body, words in (({"action": "warp"}, "Unknown clock action"), ({"action": "set"}, "needs a value"),
                        ({"action": "set", "time": "tomorrow"}, "Invalid time"),
                        ({"action": "advance", "by": "2 fortnights"}, "Invalid duration"),
                        ({"action": "advance", "by": "99999999d"}, "Invalid duration"),
                        ({"action": "advance", "seconds": "x"}, "must be an integer"), ({}, "missing")):
        r = srv.post("/_snowglobe/clock", json=body)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["status"] == "failure" and words in r.json()["error"]["detail"], r.text
    assert srv.post("/_snowglobe/clock", data="{", headers={"Content-Type": "application/json"}).status_code == 400
    assert clock_now(srv) and srv.get("/_snowglobe/clock").json()["result"]["mode"] == "real"
    assert nowctl(srv, "clock", "advance", "soon", ok=False).returncode == 1
    assert nowctl(srv, "clock", "bogus", ok=False).returncode == 2
