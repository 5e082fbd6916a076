"""The durable job queue (sys_trigger) and the event processor, black-box: events posted
over REST are processed by nowd's worker; jobs survive SIGKILL; a job a dead worker held
is claimed again once its lease has passed; the script, event, log and scheduler tables
are for admins only."""
import time

import pytest

from conftest import Server, as_user, nowctl, utc, wait_for

TABLES = ["sys_script", "sys_script_include", "sys_ws_definition", "sys_ws_operation",
          "sysauto_script", "sysevent_register", "sysevent", "sysevent_script_action", "syslog",
          "sys_trigger", "sys_metadata"]


def event(s, name, **kw):
    r = s.post("/api/now/table/sysevent", json=dict(name=name, **kw))
    assert r.status_code == 201, r.text
    return r.json()["result"]["sys_id"]


def state_of(s, sys_id):
    r = s.get(f"/api/now/table/sysevent/{sys_id}", params={"sysparm_fields": "state,processed,claimed_by"})
    assert r.status_code == 200, r.text
    return r.json()["result"]


@pytest.fixture(scope="module")
def srv():
    s = Server(demo=False)
    yield s
    s.stop()


def test_events_without_listeners_are_processed(srv):
    quiet = event(srv, "x_test.nobody_listens", parm1="a", parm2="b")
    r = srv.post("/api/now/table/sysevent_script_action",
                 json={"name": "Listener", "event_name": "x_test.listened", "script": "gs.info(event.parm1);"})
    assert r.status_code == 201, r.text
    listened = event(srv, "x_test.listened")
    assert wait_for(lambda: state_of(srv, quiet)["state"] == "processed")
    got = state_of(srv, quiet)
    assert got["processed"] and got["claimed_by"]
    # a script action listens: the engine runs it (script/background.h), then it is processed
    assert wait_for(lambda: state_of(srv, listened)["state"] == "processed")
    # the event processor is itself a repeating row of the queue
    r = srv.get("/api/now/table/sys_trigger", params={"job_id": "sysevent_processor"})
    rows = r.json()["result"]
    assert len(rows) == 1 and rows[0]["repeat"] == "1970-01-01 00:00:01", rows


def test_future_events_wait_for_process_on(srv):
    later = event(srv, "x_test.later", process_on=utc(6))
    time.sleep(3)
    assert state_of(srv, later)["state"] == "ready"
    assert wait_for(lambda: state_of(srv, later)["state"] == "processed", timeout=20)


def test_jobs_survive_sigkill_and_leases_expire():
    s = Server(demo=False)
    try:
        s.set_property("snowglobe.jobs.lease_seconds", "4")
        due = [event(s, f"x_test.kill.{i}", process_on=utc(3)) for i in range(5)]
        # a one-off job a dead worker holds, its lease running for 4 more seconds
        r = s.post("/api/now/table/sys_trigger",
                   json={"name": "orphan", "job_id": "sysevent_processor", "state": "1",
                         "claimed_by": "gone-host:1:0", "next_action": utc(4)})
        assert r.status_code == 201, r.text
        orphan = r.json()["result"]["sys_id"]
        s.kill()  # SIGKILL: nothing flushed, nothing cleaned up
        s.start()
        # still leased right after the restart
        r = s.get(f"/api/now/table/sys_trigger/{orphan}")
        assert r.status_code == 200 and r.json()["result"]["claimed_by"] == "gone-host:1:0"
        # the lease passes: claimed again, run, and (one-off) deleted
        assert wait_for(lambda: s.get(f"/api/now/table/sys_trigger/{orphan}").status_code == 404, 20)
        assert wait_for(lambda: all(state_of(s, e)["state"] == "processed" for e in due), 20)
        # kill again while the repeating processor's row is held: it comes back after its lease
        s.kill()
        s.start()
        late = event(s, "x_test.after_second_kill")
        assert wait_for(lambda: state_of(s, late)["state"] == "processed", 20)
        r = s.get("/api/now/table/sys_trigger", params={"job_id": "sysevent_processor"})
        assert len(r.json()["result"]) == 1
    finally:
        s.stop()


def test_no_workers_no_processing():
    s = Server(demo=False, extra=["--job-workers", "0"])
    try:
        e = event(s, "x_test.idle")
        time.sleep(3)
        assert state_of(s, e)["state"] == "ready"
    finally:
        s.stop()


def test_job_workers_flag_is_checked():
    import os
    import subprocess
    from conftest import BIN
    r = subprocess.run([os.path.join(BIN, "nowd"), "--data", "/nonexistent", "--job-workers", "99"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "job-workers" in r.stderr


@pytest.mark.parametrize("table", TABLES)
def test_tables_are_admin_only(srv, table):
    nowctl(srv, "user", "add", f"jobs.itil.{table}", "--password", "Jobs-itil-pass-1", "--role", "itil")
    call = as_user(srv, f"jobs.itil.{table}", "Jobs-itil-pass-1")
    assert call("GET", f"/api/now/table/{table}").status_code == 403
    assert call("POST", f"/api/now/table/{table}", json={"name": "x"}).status_code == 403
    r = srv.get(f"/api/now/table/{table}", params={"sysparm_limit": "1"})
    assert r.status_code == 200, r.text
