"""Business rules (sys_script), black-box: each rule is created through the Table API and its
effect observed over REST: before rules that set fields or abort the write, after rules that
write another table, async rules run after the commit (and after a SIGKILL), script includes
used by a rule, filter_condition and condition, inheritance from task, setWorkflow(false),
the recursion guard, runaway scripts and script errors in syslog."""
import os
import time
import uuid

import pytest

from conftest import Server, nowctl, wait_for


def rule(s, script, table="incident", when="before", insert=True, update=False, delete=False,
         **kw):
    body = dict(name=kw.pop("name", "t-" + uuid.uuid4().hex[:8]), collection=table, when=when,
                action_insert=str(insert).lower(), action_update=str(update).lower(),
                action_delete=str(delete).lower(), active="true", script=script, **kw)
    r = s.post("/api/now/table/sys_script", json=body)
    assert r.status_code == 201, r.text
    return r.json()["result"]["sys_id"]


def drop(s, sys_id):
    assert s.delete(f"/api/now/table/sys_script/{sys_id}").status_code == 204


def incident(s, **fields):
    fields.setdefault("short_description", "br test " + uuid.uuid4().hex[:8])
    return s.post("/api/now/table/incident", json=fields)


def get(s, table, sys_id, fields):
    r = s.get(f"/api/now/table/{table}/{sys_id}", params={"sysparm_fields": fields})
    assert r.status_code == 200, r.text
    return r.json()["result"]


def rows(s, table, query, fields="sys_id"):
    r = s.get(f"/api/now/table/{table}", params={"sysparm_query": query, "sysparm_fields": fields})
    assert r.status_code == 200, r.text
    return r.json()["result"]


@pytest.fixture(scope="module")
def srv():
    s = Server(demo=False)
    yield s
    s.stop()


def test_before_rule_sets_fields(srv):
    rid = rule(srv, "current.description = 'set by rule ' + current.short_description;\n"
                    "current.urgency = 1; current.impact = 1;")
    try:
        r = incident(srv, short_description="before-set")
        assert r.status_code == 201, r.text
        res = r.json()["result"]
        assert res["description"] == "set by rule before-set"
        # the rule ran before the model's own rules: priority follows the new impact/urgency
        assert (res["urgency"], res["impact"], res["priority"]) == ("1", "1", "1")
        assert res["number"].startswith("INC")
    finally:
        drop(srv, rid)
    # once the rule is deleted, the cached rule set is reloaded: nothing is set
    r = incident(srv, short_description="after-drop")
    assert r.json()["result"]["description"] == ""


def test_abort_refuses_the_write(srv):
    tag = uuid.uuid4().hex[:10]
    rid = rule(srv, "if (current.short_description.toString().indexOf('forbidden') >= 0) {\n"
                    "  gs.addErrorMessage('Forbidden words are not allowed');\n"
                    "  current.setAbortAction(true);\n}", update=True)
    try:
        r = incident(srv, short_description="forbidden " + tag)
        assert r.status_code == 403, r.text
        assert r.json() == {"error": {"message": "Operation Failed",
                                      "detail": "Forbidden words are not allowed"},
                            "status": "failure"}
        assert rows(srv, "incident", "short_descriptionLIKE" + tag) == []
        # an update aborted leaves the record as it was
        ok = incident(srv, short_description="fine " + tag).json()["result"]
        r = srv.patch(f"/api/now/table/incident/{ok['sys_id']}",
                      json={"short_description": "forbidden now " + tag})
        assert r.status_code == 403
        assert get(srv, "incident", ok["sys_id"], "short_description")["short_description"] == "fine " + tag
    finally:
        drop(srv, rid)


def test_abort_without_message_names_the_record(srv):
    rid = rule(srv, "current.setAbortAction(true);", table="problem")
    try:
        r = srv.post("/api/now/table/problem", json={"short_description": "no"})
        assert r.status_code == 403
        body = r.json()
        assert body["status"] == "failure" and body["error"]["message"] == "Operation Failed"
        assert body["error"]["detail"].startswith("Error during insert of problem (PRB")
    finally:
        drop(srv, rid)


def test_after_rule_writes_another_table(srv):
    rid = rule(srv, "var p = new GlideRecord('problem');\np.initialize();\n"
                    "p.short_description = 'follow-up of ' + current.number;\np.insert();",
               when="after")
    try:
        inc = incident(srv).json()["result"]
        found = rows(srv, "problem", "short_description=follow-up of " + inc["number"])
        assert len(found) == 1
    finally:
        drop(srv, rid)


def test_filter_condition_and_condition(srv):
    tag = uuid.uuid4().hex[:8]
    # order 1000: after the engines, so the priority computed from impact and urgency is seen
    rid = rule(srv, "current.description = 'matched';", update=True, order="1000",
               filter_condition="priority=1^short_descriptionSTARTSWITH" + tag,
               condition="current.category != 'hardware'")
    try:
        yes = incident(srv, short_description=tag + " a", urgency="1", impact="1").json()["result"]
        assert yes["description"] == "matched"
        low = incident(srv, short_description=tag + " b", urgency="3", impact="3").json()["result"]
        assert low["description"] == ""
        hw = incident(srv, short_description=tag + " c", urgency="1", impact="1",
                      category="hardware").json()["result"]
        assert hw["description"] == ""
        # the filter sees current as it will be stored: raising the priority matches
        r = srv.patch(f"/api/now/table/incident/{low['sys_id']}", json={"urgency": "1", "impact": "1"})
        assert r.json()["result"]["description"] == "matched"
    finally:
        drop(srv, rid)


def test_changes_operators(srv):
    rid = rule(srv, "current.work_notes = 'state went from ' + previous.state + ' to ' + current.state;",
               insert=False, update=True, filter_condition="stateCHANGESTO2")
    try:
        inc = incident(srv).json()["result"]
        r = srv.patch(f"/api/now/table/incident/{inc['sys_id']}", json={"urgency": "2"})
        assert r.status_code == 200
        notes = rows(srv, "sys_journal_field", "element_id=" + inc["sys_id"], "value")
        assert notes == []
        srv.patch(f"/api/now/table/incident/{inc['sys_id']}", json={"state": "2"})
        notes = rows(srv, "sys_journal_field", "element_id=" + inc["sys_id"], "value")
        assert [n["value"] for n in notes] == ["state went from 1 to 2"]
    finally:
        drop(srv, rid)


def test_rules_on_task_apply_to_incident(srv):
    rid = rule(srv, "current.description = 'from task rule on ' + current.getTableName();",
               table="task")
    try:
        assert incident(srv).json()["result"]["description"] == "from task rule on incident"
    finally:
        drop(srv, rid)


def test_script_include_used_by_rule(srv):
    name = "BrHelper" + uuid.uuid4().hex[:6]
    r = srv.post("/api/now/table/sys_script_include", json={
        "name": name, "api_name": "global." + name, "active": "true",
        "script": "var %s = Class.create();\n%s.prototype = {\n initialize: function () {},\n"
                  " label: function (gr) { return 'helped ' + gr.short_description; },\n"
                  " type: '%s'\n};" % (name, name, name)})
    assert r.status_code == 201, r.text
    rid = rule(srv, "current.description = new %s().label(current);" % name)
    try:
        inc = incident(srv, short_description="include").json()["result"]
        assert inc["description"] == "helped include"
    finally:
        drop(srv, rid)


def test_inactive_rule_and_set_workflow_false(srv):
    rid = rule(srv, "current.description = 'ran';")
    try:
        srv.patch(f"/api/now/table/sys_script/{rid}", json={"active": "false"})
        assert incident(srv).json()["result"]["description"] == ""
        srv.patch(f"/api/now/table/sys_script/{rid}", json={"active": "true"})
        assert incident(srv).json()["result"]["description"] == "ran"
        # a GlideRecord write with setWorkflow(false) runs no business rule
        other = rule(srv, "var g = new GlideRecord('incident'); g.initialize();\n"
                          "g.short_description = 'quiet ' + current.number; g.setWorkflow(false);\n"
                          "g.insert();", table="problem", when="after")
        try:
            prb = srv.post("/api/now/table/problem", json={"short_description": "p"}).json()["result"]
            quiet = rows(srv, "incident", "short_description=quiet " + prb["number"], "description")
            assert quiet == [{"description": ""}]
        finally:
            drop(srv, other)
    finally:
        drop(srv, rid)


def test_recursion_is_stopped(srv):
    # an after update rule that updates its own record: runs once per write, not forever
    rid = rule(srv, "current.work_notes = 'loop';\ncurrent.update();", when="after",
               insert=False, update=True)
    # an insert rule that inserts into its own table: stopped at the nesting limit
    tag = uuid.uuid4().hex[:8]
    rid2 = rule(srv, "if (current.short_description.toString().indexOf('%s') == 0) {\n"
                     " var g = new GlideRecord('problem'); g.initialize();\n"
                     " g.short_description = current.short_description + '+'; g.insert(); }" % tag,
                table="problem", when="after")
    try:
        inc = incident(srv).json()["result"]
        r = srv.patch(f"/api/now/table/incident/{inc['sys_id']}", json={"urgency": "2"})
        assert r.status_code == 200, r.text
        notes = rows(srv, "sys_journal_field", "element_id=" + inc["sys_id"], "value")
        assert [n["value"] for n in notes] == ["loop"]
        r = srv.post("/api/now/table/problem", json={"short_description": tag})
        assert r.status_code == 201, r.text
        made = rows(srv, "problem", "short_descriptionSTARTSWITH" + tag)
        assert len(made) == 11  # the write and ten nested ones
        assert rows(srv, "syslog", "messageLIKEnested 10 writes deep^sourceSTARTSWITHsys_script")
    finally:
        drop(srv, rid)
        drop(srv, rid2)


def test_query_rule_hides_rows(srv):
    from conftest import as_user, nowctl
    tag = uuid.uuid4().hex[:8]
    secret = incident(srv, short_description=tag + " secret").json()["result"]
    shown = incident(srv, short_description=tag + " shown").json()["result"]
    rid = rule(srv, "if (!gs.hasRole('admin')) current.addQuery('short_description', 'NOT LIKE', 'secret');",
               insert=False, action_query="true", condition="gs.getUserName() != 'nobody'")
    try:
        nowctl(srv, "user", "add", "br." + tag, "--password", "Br-itil-pass-1", "--role", "itil")
        itil = as_user(srv, "br." + tag, "Br-itil-pass-1")
        q = {"sysparm_query": "short_descriptionSTARTSWITH" + tag, "sysparm_fields": "sys_id"}
        r = itil("GET", "/api/now/table/incident", params=q)
        assert r.status_code == 200, r.text
        assert [x["sys_id"] for x in r.json()["result"]] == [shown["sys_id"]]
        # also with ^NQ in the caller's query, single reads, writes and aggregates
        q2 = {"sysparm_query": "short_description=%s secret^NQshort_description=%s shown" % (tag, tag),
              "sysparm_fields": "sys_id"}
        r = itil("GET", "/api/now/table/incident", params=q2)
        assert [x["sys_id"] for x in r.json()["result"]] == [shown["sys_id"]]
        assert itil("GET", f"/api/now/table/incident/{secret['sys_id']}").status_code == 404
        assert itil("GET", f"/api/now/table/incident/{shown['sys_id']}").status_code == 200
        assert itil("PATCH", f"/api/now/table/incident/{secret['sys_id']}",
                    json={"urgency": "2"}).status_code == 404
        r = itil("GET", "/api/now/stats/incident",
                 params={"sysparm_count": "true", "sysparm_query": "short_descriptionSTARTSWITH" + tag})
        assert r.json()["result"]["stats"]["count"] == "1"
        # the admin sees both
        assert len(rows(srv, "incident", "short_descriptionSTARTSWITH" + tag)) == 2
    finally:
        drop(srv, rid)
    r = itil("GET", "/api/now/table/incident", params=q)
    assert len(r.json()["result"]) == 2


def test_script_error_lands_in_syslog_and_write_stands(srv):
    name = "broken-" + uuid.uuid4().hex[:6]
    rid = rule(srv, "current.description = 'x';\nnoSuchFunction();", name=name)
    try:
        r = incident(srv)
        assert r.status_code == 201, r.text
        logged = rows(srv, "syslog", "source=sys_script:" + name, "level,message")
        assert logged and logged[0]["level"] == "2"
        assert "noSuchFunction" in logged[0]["message"]
    finally:
        drop(srv, rid)


def test_runaway_rule_is_stopped_and_server_serves(fresh):
    fresh.set_property("snowglobe.script.timeout_ms", "300")
    name = "runaway-" + uuid.uuid4().hex[:6]
    rid = rule(fresh, "while (true) {}", name=name)
    t0 = time.time()
    r = incident(fresh)
    assert r.status_code == 201, r.text
    assert time.time() - t0 < 10
    assert fresh.get("/api/now/table/incident", params={"sysparm_limit": "1"}).status_code == 200
    assert rows(fresh, "syslog", "source=sys_script:" + name)
    drop(fresh, rid)


def test_async_rule_runs_after_commit_and_survives_sigkill():
    s = Server(demo=False, extra=["--job-workers", "0"])
    try:
        rule(s, "var p = new GlideRecord('problem'); p.initialize();\n"
                "p.short_description = 'async for ' + current.number + ' by ' + gs.getUserName();\n"
                "p.insert();", when="async")
        inc = incident(s).json()["result"]
        jobs = rows(s, "sys_trigger", "document_key=" + inc["sys_id"], "job_id,document")
        assert len(jobs) == 1 and jobs[0]["document"] == "incident"
        # no worker: nothing ran yet; the job is in the database
        assert rows(s, "problem", "short_descriptionSTARTSWITHasync for " + inc["number"]) == []
        s.kill()
        s.extra = []
        s.start()
        want = "short_description=async for %s by admin" % inc["number"]
        assert wait_for(lambda: len(rows(s, "problem", want)) == 1)
        assert wait_for(lambda: rows(s, "sys_trigger", "document_key=" + inc["sys_id"]) == [])
    finally:
        s.stop()


def test_demo_app_rule_keeps_alerts_in_step(fresh):
    app = os.path.join(os.path.dirname(__file__), "../../demo/apps/incident_io")
    nowctl(fresh, "app", "install", os.path.abspath(app), offline=True)
    inc = incident(fresh).json()["result"]
    alert = fresh.post("/api/now/table/x_inio_alert",
                       json={"title": "a", "incident": inc["sys_id"], "status": "triggered"})
    assert alert.status_code == 201, alert.text
    aid = alert.json()["result"]["sys_id"]
    fresh.patch(f"/api/now/table/incident/{inc['sys_id']}", json={"state": "2"})
    assert get(fresh, "x_inio_alert", aid, "status")["status"] == "acknowledged"
    fresh.patch(f"/api/now/table/incident/{inc['sys_id']}",
                json={"state": "6", "close_code": "Solved (Permanently)", "close_notes": "done"})
    assert get(fresh, "x_inio_alert", aid, "status")["status"] == "resolved"
    events = rows(fresh, "sysevent", "name=x_inio.incident.changed^instance=" + inc["sys_id"])
    assert len(events) == 2


def test_query_rule_restricts_script_queries_too(srv):
    """A query rule restricts GlideRecord queries in scripts as it does the Table API's
    (query, get, getRowCount), unless the script calls setWorkflow(false)."""
    import subprocess
    from conftest import BIN
    tag = uuid.uuid4().hex[:8]
    hidden = incident(srv, short_description=tag + " hidden").json()["result"]
    incident(srv, short_description=tag + " shown")
    rid = rule(srv, "current.addQuery('short_description', 'NOT LIKE', 'hidden');", insert=False,
               action_query="true")
    script = f"""
var a = new GlideRecord('incident'); a.addQuery('short_description', 'STARTSWITH', '{tag}'); a.query();
var b = new GlideRecord('incident'); b.setWorkflow(false);
b.addQuery('short_description', 'STARTSWITH', '{tag}'); b.query();
var c = new GlideRecord('incident'); var d = new GlideRecord('incident'); d.setWorkflow(false);
gs.print(a.getRowCount() + ' ' + b.getRowCount() + ' ' + c.get('{hidden["sys_id"]}') + ' ' +
         d.get('{hidden["sys_id"]}'));
"""
    try:
        r = subprocess.run([os.path.join(BIN, "nowctl"), *srv.where, "script", "run", "-"],
                           input=script, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        assert r.stdout.splitlines() == ["*** Script: 1 2 false true"]
    finally:
        drop(srv, rid)
