"""Scheduled script executions (sysauto_script), black-box: created through the Table API,
run by nowd's job workers from sys_trigger, observed over REST: periodic runs, a Once job
in the past runs at once, conditional, inactive, run as, errors in syslog (not retried),
Execute Now (nowctl job run), and a SIGKILL that neither loses nor doubles a run."""
import time
import uuid

import pytest

from conftest import ON_PG, Server, nowctl, pg_cluster, utc, wait_for


def period(seconds):
    return "1970-01-01 " + time.strftime("%H:%M:%S", time.gmtime(seconds))


def insert_marker(marker):
    return ("var g = new GlideRecord('incident'); g.initialize(); "
            f"g.short_description = '{marker}'; g.insert();")


def markers(s, marker):
    r = s.get("/api/now/table/incident", params={"short_description": marker,
                                                 "sysparm_fields": "sys_id,sys_created_by"})
    assert r.status_code == 200, r.text
    return r.json()["result"]


def job(s, **fields):
    r = s.post("/api/now/table/sysauto_script", json=fields)
    assert r.status_code == 201, r.text
    return r.json()["result"]["sys_id"]


def triggers(s, job_id):
    r = s.get("/api/now/table/sys_trigger", params={"document_key": job_id, "job_id": "sysauto_script"})
    assert r.status_code == 200, r.text
    return r.json()["result"]


@pytest.fixture(scope="module")
def srv():
    s = Server(demo=False)
    yield s
    s.stop()


def test_periodic_job_runs_and_inactive_stops(srv):
    m = "periodic-" + uuid.uuid4().hex[:8]
    jid = job(srv, name=m, run_type="periodically", run_period=period(1), script=insert_marker(m))
    # one waiting job for the record, due within the period
    rows = triggers(srv, jid)
    assert len(rows) == 1 and rows[0]["state"] == "0", rows
    assert wait_for(lambda: len(markers(srv, m)) >= 3, 20)
    r = srv.patch(f"/api/now/table/sysauto_script/{jid}", json={"active": "false"})
    assert r.status_code == 200, r.text
    time.sleep(1.5)  # a run already under way finishes
    n = len(markers(srv, m))
    time.sleep(3)
    assert len(markers(srv, m)) == n
    assert all(t["state"] != "0" for t in triggers(srv, jid))
    # activated again: scheduled again
    r = srv.patch(f"/api/now/table/sysauto_script/{jid}", json={"active": "true"})
    assert r.status_code == 200
    assert wait_for(lambda: len(markers(srv, m)) > n, 10)
    # deleted: its waiting job goes with it
    assert srv.delete(f"/api/now/table/sysauto_script/{jid}").status_code == 204
    time.sleep(1.5)
    assert triggers(srv, jid) == []


def test_once_in_the_past_runs_at_once_and_only_once(srv):
    m = "once-" + uuid.uuid4().hex[:8]
    jid = job(srv, name=m, run_type="once", run_start=utc(-3600), script=insert_marker(m))
    assert wait_for(lambda: len(markers(srv, m)) == 1, 10)
    time.sleep(2.5)
    assert len(markers(srv, m)) == 1
    assert triggers(srv, jid) == []


def test_once_in_the_future_waits(srv):
    m = "later-" + uuid.uuid4().hex[:8]
    jid = job(srv, name=m, run_type="once", run_start=utc(4), script=insert_marker(m))
    rows = triggers(srv, jid)
    assert len(rows) == 1
    time.sleep(1.5)
    assert markers(srv, m) == []
    assert wait_for(lambda: len(markers(srv, m)) == 1, 15)


def test_conditional(srv):
    no, yes = "cond-no-" + uuid.uuid4().hex[:8], "cond-yes-" + uuid.uuid4().hex[:8]
    job(srv, name=no, run_type="once", run_start=utc(-60), conditional="true",
        condition="var n = 1; n == 2", script=insert_marker(no))
    job(srv, name=yes, run_type="once", run_start=utc(-60), conditional="true",
        condition="var ga = new GlideAggregate('sys_user'); ga.addAggregate('COUNT'); ga.query(); "
                  "ga.next(); ga.getAggregate('COUNT') !== '0'",
        script=insert_marker(yes))
    assert wait_for(lambda: len(markers(srv, yes)) == 1, 10)
    time.sleep(1)
    assert markers(srv, no) == []
    # conditional false: the condition is not consulted
    off = "cond-off-" + uuid.uuid4().hex[:8]
    job(srv, name=off, run_type="once", run_start=utc(-60), conditional="false",
        condition="false", script=insert_marker(off))
    assert wait_for(lambda: len(markers(srv, off)) == 1, 10)


def test_run_as(srv):
    nowctl(srv, "user", "add", "sched.runner", "--password", "Sched-runner-pass-1", "--role", "itil")
    r = srv.get("/api/now/table/sys_user", params={"user_name": "sched.runner", "sysparm_fields": "sys_id"})
    uid = r.json()["result"][0]["sys_id"]
    m, sys_m = "runas-" + uuid.uuid4().hex[:8], "runsys-" + uuid.uuid4().hex[:8]
    job(srv, name=m, run_type="once", run_start=utc(-60), run_as=uid,
        script=insert_marker(m) + " gs.info('user ' + gs.getUserName());")
    job(srv, name=sys_m, run_type="once", run_start=utc(-60), script=insert_marker(sys_m))
    assert wait_for(lambda: len(markers(srv, m)) == 1 and len(markers(srv, sys_m)) == 1, 10)
    assert markers(srv, m)[0]["sys_created_by"] == "sched.runner"
    assert markers(srv, sys_m)[0]["sys_created_by"] == "system"


def test_script_error_lands_in_syslog_and_is_not_retried(srv):
    name = "failing-" + uuid.uuid4().hex[:8]
    jid = job(srv, name=name, run_type="once", run_start=utc(-60),
              script=f"throw new Error('boom {name}');")

    def logged():
        r = srv.get("/api/now/table/syslog", params={"source": name, "sysparm_fields": "level,message"})
        return r.json()["result"]
    assert wait_for(lambda: len(logged()) == 1, 10)
    row = logged()[0]
    assert row["level"] == "2" and f"boom {name}" in row["message"], row
    time.sleep(3)
    assert len(logged()) == 1  # not tried again
    assert triggers(srv, jid) == []


def test_runaway_job_is_stopped(srv):
    srv.set_property("snowglobe.script.timeout_ms", "500")
    try:
        name = "runaway-" + uuid.uuid4().hex[:8]
        job(srv, name=name, run_type="once", run_start=utc(-60), script="while (true) {}")

        def logged():
            r = srv.get("/api/now/table/syslog", params={"source": name, "sysparm_fields": "message"})
            return r.json()["result"]
        assert wait_for(lambda: len(logged()) == 1, 15)
        assert "timeout" in logged()[0]["message"]
        # the workers carry on
        m = "after-runaway-" + uuid.uuid4().hex[:8]
        job(srv, name=m, run_type="once", run_start=utc(-60), script=insert_marker(m))
        assert wait_for(lambda: len(markers(srv, m)) == 1, 10)
    finally:
        srv.set_property("snowglobe.script.timeout_ms", "5000")


def test_execute_now(srv):
    m = "ondemand-" + uuid.uuid4().hex[:8]
    jid = job(srv, name=m, run_type="on_demand", script=insert_marker(m))
    assert triggers(srv, jid) == []  # on demand: never scheduled
    r = nowctl(srv, "job", "run", m)
    assert r.stdout.startswith("queued ")
    assert wait_for(lambda: len(markers(srv, m)) == 1, 10)
    # by sys_id, offline (the running nowd picks the queued job up)
    nowctl(srv, "job", "run", jid, offline=True)
    assert wait_for(lambda: len(markers(srv, m)) == 2, 10)
    r = nowctl(srv, "job", "run", "no-such-job-" + m, ok=False)
    assert r.returncode == 1 and "no scheduled script job" in r.stderr
    r = nowctl(srv, "job", "run", ok=False)
    assert r.returncode == 2
    # an inactive periodic job still runs on Execute Now, and its schedule stays empty
    m2 = "inactive-" + uuid.uuid4().hex[:8]
    j2 = job(srv, name=m2, active="false", run_type="periodically", run_period=period(1),
             script=insert_marker(m2))
    nowctl(srv, "job", "run", m2)
    assert wait_for(lambda: len(markers(srv, m2)) == 1, 10)
    time.sleep(2)
    assert len(markers(srv, m2)) == 1 and triggers(srv, j2) == []


def test_malformed_schedule_is_kept_not_run(srv):
    m = "malformed-" + uuid.uuid4().hex[:8]
    jid = job(srv, name=m, run_type="periodically", script=insert_marker(m))  # no run_period
    assert triggers(srv, jid) == []
    time.sleep(1.5)
    assert markers(srv, m) == []


def test_a_missed_run_happens_once_after_sigkill():
    s = Server(demo=False)
    try:
        m = "restart-" + uuid.uuid4().hex[:8]
        # every minute, the first run 3 s from now
        jid = job(s, name=m, run_type="periodically", run_period=period(60), run_start=utc(3),
                  script=insert_marker(m))
        assert len(triggers(s, jid)) == 1
        s.kill()  # before its time: nothing ran
        time.sleep(5)  # its time passes while nowd is down
        s.start()
        assert wait_for(lambda: len(markers(s, m)) == 1, 10)
        time.sleep(3)
        assert len(markers(s, m)) == 1  # once, not twice
        rows = triggers(s, jid)
        assert len(rows) == 1 and rows[0]["state"] == "0", rows
        # a second restart adds nothing either
        s.kill()
        s.start()
        time.sleep(2)
        assert len(triggers(s, jid)) == 1 and len(markers(s, m)) == 1
    finally:
        s.stop()


def test_jobs_without_a_queued_run_are_scheduled_at_start():
    import glob
    import os
    import sqlite3
    import subprocess
    s = Server(demo=False, extra=["--job-workers", "0"])
    try:
        m = "offline-" + uuid.uuid4().hex[:8]
        p = "offline-p-" + uuid.uuid4().hex[:8]
        once = job(s, name=m, run_type="once", run_start=utc(-60), script=insert_marker(m))
        per = job(s, name=p, run_type="periodically", run_period=period(1), script=insert_marker(p))
        time.sleep(1)
        assert markers(s, m) == [] and markers(s, p) == []  # no workers: queued, not run
        s.kill()
        # their queued runs removed behind nowd's back (as records loaded by a process
        # without the scheduling rule would have none)
        if ON_PG:
            # the two sys_ids are nowd's own hex, passed to psql as quoted variables
            r = subprocess.run([pg_cluster().psql, "-Xq", "-d", pg_cluster().database_url(s.dbname),
                                "-v", "a=" + once, "-v", "b=" + per, "-v", "ON_ERROR_STOP=1"],
                               input="DELETE FROM sys_trigger WHERE document_key IN (:'a', :'b');\n",
                               capture_output=True, text=True)
            assert r.returncode == 0, r.stderr
        else:
            db = [f for f in glob.glob(os.path.join(s.data, "*")) if f.endswith((".db", ".sqlite", ".sqlite3"))][0]
            con = sqlite3.connect(db)
            con.execute("DELETE FROM sys_trigger WHERE document_key IN (?, ?)", (once, per))
            con.commit()
            con.close()
        s.extra = []
        s.start()
        # the periodic job is scheduled again and runs; the Once job's time has passed
        assert wait_for(lambda: len(markers(s, p)) >= 1, 10)
        assert len(triggers(s, per)) == 1
        assert markers(s, m) == [] and triggers(s, once) == []
        assert "scheduled job(s) had no run queued" in s.output()
    finally:
        s.stop()
