"""Events and script actions, black-box: events queued with gs.eventQueue (from a
background script or a scheduled job) or posted to sysevent; the event processor runs
every active sysevent_script_action of the event's name by order, with event and current
bound, honouring condition_script; the event ends processed, or error with the failure in
syslog.  An idle instance writes nothing."""
import glob
import os
import sqlite3
import time
import uuid

import pytest

from conftest import Server, nowctl, sqlite_only, utc, wait_for


@pytest.fixture(scope="module")
def srv():
    s = Server(demo=False)
    yield s
    s.stop()


def action(s, event_name, script, **kw):
    r = s.post("/api/now/table/sysevent_script_action",
               json=dict(name=kw.pop("name", "action " + uuid.uuid4().hex[:6]), event_name=event_name,
                         script=script, **kw))
    assert r.status_code == 201, r.text
    return r.json()["result"]["sys_id"]


def incident(s, **kw):
    r = s.post("/api/now/table/incident", json=dict(short_description="ev", **kw))
    assert r.status_code == 201, r.text
    return r.json()["result"]["sys_id"]


def get(s, table, sys_id, fields):
    r = s.get(f"/api/now/table/{table}/{sys_id}", params={"sysparm_fields": fields})
    assert r.status_code == 200, r.text
    return r.json()["result"]


def queue(s, name, inc, parm1="", parm2=""):
    """gs.eventQueue from Scripts - Background (offline, as the system)."""
    src = (f"var g = new GlideRecord('incident'); g.get('{inc}'); "
           f"gs.eventQueue('{name}', g, '{parm1}', '{parm2}');")
    path = os.path.join(s.dir, "q.js")
    with open(path, "w") as f:
        f.write(src)
    nowctl(s, "script", "run", path, offline=True)


def events(s, name):
    r = s.get("/api/now/table/sysevent", params={"name": name, "sysparm_fields": "sys_id,state,processed,table,instance,parm1,parm2"})
    assert r.status_code == 200, r.text
    return r.json()["result"]


def test_script_action_updates_current(srv):
    name = "x_test.touch." + uuid.uuid4().hex[:6]
    action(srv, name, "current.short_description = 'touched ' + event.parm1 + ' ' + event.parm2 + "
                      "' ' + event.name + ' ' + event.table + ' ' + (event.instance == current.sys_id); "
                      "current.update();")
    inc = incident(srv)
    queue(srv, name, inc, "p1", "p2")
    ev = events(srv, name)
    assert len(ev) == 1 and ev[0]["table"] == "incident" and ev[0]["instance"] == inc
    assert ev[0]["parm1"] == "p1" and ev[0]["parm2"] == "p2"
    assert wait_for(lambda: events(srv, name)[0]["state"] == "processed")
    assert events(srv, name)[0]["processed"]
    assert get(srv, "incident", inc, "short_description")["short_description"] == \
        f"touched p1 p2 {name} incident true"


def test_actions_run_by_order_and_inactive_ones_do_not(srv):
    name = "x_test.order." + uuid.uuid4().hex[:6]
    append = "current.description = current.description + '{}'; current.update();"
    action(srv, name, append.format("B"), order="200")
    action(srv, name, append.format("A"), order="100")
    action(srv, name, append.format("X"), order="150", active="false")
    action(srv, "x_test.other", append.format("O"))
    inc = incident(srv, description="")
    queue(srv, name, inc)
    assert wait_for(lambda: events(srv, name)[0]["state"] == "processed")
    assert get(srv, "incident", inc, "description")["description"] == "AB"


def test_condition_script(srv):
    name = "x_test.cond." + uuid.uuid4().hex[:6]
    action(srv, name, "current.short_description = 'ran ' + event.parm1; current.update();",
           condition_script="event.parm1 == 'go' && current.priority == '5'")
    go, stay = incident(srv, priority="5"), incident(srv, priority="5")
    queue(srv, name, go, "go")
    queue(srv, name, stay, "stay")
    assert wait_for(lambda: all(e["state"] == "processed" for e in events(srv, name)) and len(events(srv, name)) == 2)
    assert get(srv, "incident", go, "short_description")["short_description"] == "ran go"
    assert get(srv, "incident", stay, "short_description")["short_description"] == "ev"


def test_erroring_action_marks_event_error_and_logs(srv):
    name = "x_test.err." + uuid.uuid4().hex[:6]
    aname = "Failing action " + uuid.uuid4().hex[:6]
    action(srv, name, "var x = null; x.boom();", name=aname, order="100")
    action(srv, name, "current.short_description = 'second ran'; current.update();", order="200")
    inc = incident(srv)
    queue(srv, name, inc)
    assert wait_for(lambda: events(srv, name)[0]["state"] == "error")
    r = srv.get("/api/now/table/syslog", params={"source": aname, "sysparm_fields": "level,message"})
    rows = r.json()["result"]
    assert len(rows) == 1 and rows[0]["level"] == "2" and "TypeError" in rows[0]["message"], rows
    # the other actions still run
    assert get(srv, "incident", inc, "short_description")["short_description"] == "second ran"


def test_event_without_record_and_from_rest(srv):
    name = "x_test.norec." + uuid.uuid4().hex[:6]
    action(srv, name, "gs.info('no current: ' + (current === null) + ' ' + event.parm1 + ' ' + event.name);", name="NoRec " + name)
    r = srv.post("/api/now/table/sysevent", json={"name": name, "parm1": "rest", "table": "incident",
                                                  "instance": "0" * 32})
    assert r.status_code == 201
    assert wait_for(lambda: events(srv, name)[0]["state"] == "processed")
    r = srv.get("/api/now/table/syslog", params={"sysparm_query": f"messageLIKE{name}", "sysparm_fields": "message"})
    assert [x["message"] for x in r.json()["result"]] == [f"no current: true rest {name}"]


def test_events_from_a_scheduled_job(srv):
    name = "x_test.sched." + uuid.uuid4().hex[:6]
    inc = incident(srv)
    action(srv, name, "current.short_description = 'from job'; current.update();")
    nowctl(srv, "user", "add", "ev.queuer", "--password", "Ev-queuer-pass-1", "--role", "itil")
    uid = srv.get("/api/now/table/sys_user", params={"user_name": "ev.queuer"}).json()["result"][0]["sys_id"]
    action(srv, name, "gs.info('queued by ' + event.user_name + ' ' + (event.user_id == '" + uid + "') + ' ' + event.name);")
    r = srv.post("/api/now/table/sysauto_script", json={
        "name": "queue " + name, "run_type": "once", "run_start": utc(-60), "run_as": uid,
        "script": f"var g = new GlideRecord('incident'); g.get('{inc}'); gs.eventQueue('{name}', g);"})
    assert r.status_code == 201
    assert wait_for(lambda: get(srv, "incident", inc, "short_description")["short_description"] == "from job")
    assert wait_for(lambda: events(srv, name)[0]["state"] == "processed")
    r = srv.get("/api/now/table/syslog", params={"sysparm_query": f"messageLIKE{name}", "sysparm_fields": "message"})
    assert [x["message"] for x in r.json()["result"]] == [f"queued by ev.queuer true {name}"]


def test_future_event_waits_for_process_on(srv):
    name = "x_test.later." + uuid.uuid4().hex[:6]
    inc = incident(srv)
    action(srv, name, "current.short_description = 'later'; current.update();")
    r = srv.post("/api/now/table/sysevent", json={"name": name, "table": "incident", "instance": inc,
                                                  "process_on": utc(3)})
    assert r.status_code == 201
    time.sleep(1.5)
    assert events(srv, name)[0]["state"] == "ready"
    assert wait_for(lambda: events(srv, name)[0]["state"] == "processed", 15)
    assert get(srv, "incident", inc, "short_description")["short_description"] == "later"


@sqlite_only("counts the database file's writes (PRAGMA data_version)")
def test_idle_instance_writes_nothing():
    s = Server(demo=False)
    try:
        db = [f for f in glob.glob(os.path.join(s.data, "*")) if f.endswith((".db", ".sqlite", ".sqlite3"))][0]
        time.sleep(3)  # past the upkeep's first store maintenance (then every few minutes)
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        v0 = con.execute("PRAGMA data_version").fetchone()[0]
        t0 = con.execute("SELECT sys_mod_count FROM sys_trigger WHERE job_id = 'sysevent_processor'").fetchall()
        time.sleep(5)
        assert con.execute("PRAGMA data_version").fetchone()[0] == v0
        assert con.execute("SELECT sys_mod_count FROM sys_trigger WHERE job_id = 'sysevent_processor'").fetchall() == t0
        # and an event is still taken promptly (woken, not polled every few seconds)
        name = "x_test.prompt." + uuid.uuid4().hex[:6]
        action(s, name, "gs.info('prompt');")
        start = time.time()
        r = s.post("/api/now/table/sysevent", json={"name": name})
        assert r.status_code == 201
        assert wait_for(lambda: events(s, name)[0]["state"] == "processed", 10)
        assert time.time() - start < 3
        con.close()
    finally:
        s.stop()
