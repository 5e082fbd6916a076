"""Advanced ACLs: the script of sys_security_acl, with `current` and `answer` (issue 14).

An ACL grants only when its roles, its condition and its script all pass [reference 5.3, rule 1];
the script grants with answer = true, or, when it leaves answer unset, with its last expression.
admin passes an admin_overrides ACL without its script, and must pass the script of one without
it. A script that throws or runs past its time limit denies (fail closed) and lands in syslog,
while the server keeps serving. The script ACL holds on every read path: Table list and get,
Aggregate, a dot-walk in sysparm_fields and attachments.
"""
import threading

import pytest

from conftest import Server, as_user, nowctl

ELEVATE = {"X-Snowglobe-Elevate": "security_admin"}
BASE_INCIDENT_READ = ("1615a112d0ad229b9d0663f0d437d01e", "de5f09df4b305a39b93d6a9d937461e7")


def add_acl(s, name, script, operation="read", **fields):
    body = {"name": name, "type": "record", "operation": operation, "advanced": "true",
            "script": script, "admin_overrides": "true", "decision_type": "allow", "active": "true",
            **fields}
    r = s.post("/api/now/table/sys_security_acl", json=body, headers=ELEVATE)
    assert r.status_code == 201, r.text
    return r.json()["result"]["sys_id"]


def set_acl(s, sys_id, **fields):
    r = s.patch(f"/api/now/table/sys_security_acl/{sys_id}", json=fields, headers=ELEVATE)
    assert r.status_code == 200, r.text


def user_id(s, name):
    return s.get("/api/now/table/sys_user", params={"user_name": name}).json()["result"][0]["sys_id"]


def ids(r):
    assert r.status_code == 200, r.text
    return {x["sys_id"] for x in r.json()["result"]}


@pytest.fixture(scope="module")
def inst():
    """Incident's base read ACLs made inactive and replaced by one script ACL: the caller only.
    Two users with the same role (itil): ann and bob, each caller of two incidents."""
    s = Server()
    s.set_property("snowglobe.rest.allow_elevation", "true")
    for name in ("ann", "bob"):
        nowctl(s, "user", "add", f"acl.{name}", "--password", f"Acl-{name}-pass-1", "--role", "itil")
    s.ann, s.bob = (as_user(s, f"acl.{n}", f"Acl-{n}-pass-1") for n in ("ann", "bob"))
    s.ann_id, s.bob_id = user_id(s, "acl.ann"), user_id(s, "acl.bob")
    s.incidents = {}
    for who, uid in (("ann", s.ann_id), ("bob", s.bob_id)):
        for i in range(2):
            r = s.post("/api/now/table/incident",
                       json={"short_description": f"acl script {who} {i}", "caller_id": uid})
            assert r.status_code == 201, r.text
            s.incidents.setdefault(who, set()).add(r.json()["result"]["sys_id"])
    for acl in BASE_INCIDENT_READ:
        set_acl(s, acl, active="false")
    s.acl = add_acl(s, "incident", "answer = current.caller_id == gs.getUserID();")
    yield s
    s.stop()


def mine(s, call, **params):
    return ids(call("GET", "/api/now/table/incident",
                    params={"sysparm_query": "short_descriptionSTARTSWITHacl script", "sysparm_fields": "sys_id",
                            **params}))


def test_script_allows_only_the_caller(inst):
    assert mine(inst, inst.ann) == inst.incidents["ann"]
    assert mine(inst, inst.bob) == inst.incidents["bob"]
    ann_one, bob_one = sorted(inst.incidents["ann"])[0], sorted(inst.incidents["bob"])[0]
    assert inst.ann("GET", f"/api/now/table/incident/{ann_one}").status_code == 200
    assert inst.ann("GET", f"/api/now/table/incident/{bob_one}").status_code == 404
    # admin passes an admin_overrides ACL without running it
    assert mine(inst, lambda m, p, **kw: inst.get(p, **kw)) == inst.incidents["ann"] | inst.incidents["bob"]


def test_aggregate_counts_what_the_script_grants(inst):
    q = {"sysparm_count": "true", "sysparm_query": "short_descriptionSTARTSWITHacl script"}
    r = inst.ann("GET", "/api/now/stats/incident", params=q)
    assert r.status_code == 200 and r.json()["result"]["stats"]["count"] == "2", r.text
    assert inst.get("/api/now/stats/incident", params=q).json()["result"]["stats"]["count"] == "4"
    # JOIN's other table: only the incidents ann may read
    q = "JOINsys_user.sys_id=incident.caller_id!short_descriptionSTARTSWITHacl script"
    r = inst.ann("GET", "/api/now/table/sys_user", params={"sysparm_query": q, "sysparm_fields": "user_name"})
    assert r.status_code == 200 and {x["user_name"] for x in r.json()["result"]} == {"acl.ann"}


def test_field_script_on_a_dot_walk(inst):
    inst.patch(f"/api/now/table/sys_user/{inst.bob_id}", json={"mobile_phone": "+1 555 0142"})
    inst.patch(f"/api/now/table/sys_user/{inst.ann_id}", json={"mobile_phone": "+1 555 0101"})
    ann_one = sorted(inst.incidents["ann"])[0]
    inst.patch(f"/api/now/table/incident/{ann_one}", json={"assigned_to": inst.bob_id})
    add_acl(inst, "sys_user.mobile_phone", "current.sys_id == gs.getUserID()")  # last expression
    fields = {"sysparm_fields": "caller_id.mobile_phone,assigned_to.mobile_phone"}
    one = inst.ann("GET", f"/api/now/table/incident/{ann_one}", params=fields).json()["result"]
    assert one["caller_id.mobile_phone"] == "+1 555 0101"
    assert "assigned_to.mobile_phone" not in one
    one = inst.get(f"/api/now/table/incident/{ann_one}", params=fields).json()["result"]
    assert one["assigned_to.mobile_phone"] == "+1 555 0142"


def test_attachments_follow_the_record_script(inst):
    got = {}
    for who in ("ann", "bob"):
        inc = sorted(inst.incidents[who])[0]
        r = inst.post("/api/now/attachment/file", params={"table_name": "incident", "table_sys_id": inc,
                                                          "file_name": f"{who}.txt"},
                      data=b"secret of " + who.encode(), headers={"Content-Type": "text/plain"})
        assert r.status_code == 201, r.text
        got[who] = r.json()["result"]["sys_id"]
    assert inst.ann("GET", f"/api/now/attachment/{got['ann']}/file").status_code == 200
    r = inst.ann("GET", f"/api/now/attachment/{got['bob']}/file")
    assert r.status_code in (403, 404) and b"secret of bob" not in r.content
    listed = {x["sys_id"] for x in inst.ann("GET", "/api/now/attachment",
                                            params={"sysparm_query": "table_name=incident"}).json()["result"]}
    assert got["ann"] in listed and got["bob"] not in listed


def test_answer_false_and_admin_overrides(fresh):
    fresh.set_property("snowglobe.rest.allow_elevation", "true")
    inc = fresh.post("/api/now/table/incident", json={"short_description": "for admin"}).json()["result"]["sys_id"]
    acl = add_acl(fresh, "incident", "answer = false;", decision_type="deny")
    # admin_overrides: admin passes without the script
    assert fresh.get(f"/api/now/table/incident/{inc}").status_code == 200
    set_acl(fresh, acl, admin_overrides="false")
    assert fresh.get(f"/api/now/table/incident/{inc}").status_code == 404
    r = fresh.get("/api/now/table/incident", params={"sysparm_limit": "5"})
    assert r.status_code == 200 and r.json()["result"] == []
    # answer true, or a last expression that is true, grants again
    set_acl(fresh, acl, script="answer = true;")
    assert fresh.get(f"/api/now/table/incident/{inc}").status_code == 200
    set_acl(fresh, acl, script="var x = 1;\nx == 1")
    assert fresh.get(f"/api/now/table/incident/{inc}").status_code == 200
    # not advanced: the script is not run (the ACL is a role/condition ACL, which passes)
    set_acl(fresh, acl, script="answer = false;", advanced="false")
    assert fresh.get(f"/api/now/table/incident/{inc}").status_code == 200
    # write and delete scripts see current too
    set_acl(fresh, acl, active="false")
    add_acl(fresh, "incident", "current.short_description != 'locked'", operation="write",
            admin_overrides="false", decision_type="deny")
    assert fresh.patch(f"/api/now/table/incident/{inc}", json={"short_description": "locked"}).status_code == 200
    r = fresh.patch(f"/api/now/table/incident/{inc}", json={"short_description": "again"})
    assert r.status_code == 403, r.text
    # create: current is the new, empty record
    acl = add_acl(fresh, "incident", "answer = current.isNewRecord() && gs.getUserName() == 'nobody';",
                  operation="create", admin_overrides="false", decision_type="deny")
    r = fresh.post("/api/now/table/incident", json={"short_description": "refused"})
    assert r.status_code == 403, r.text
    set_acl(fresh, acl, script="answer = current.isNewRecord() && gs.getUserName() == 'admin';")
    assert fresh.post("/api/now/table/incident", json={"short_description": "made"}).status_code == 201


def test_error_and_runaway_deny_and_log(fresh):
    fresh.set_property("snowglobe.rest.allow_elevation", "true")
    fresh.set_property("snowglobe.script.timeout_ms", "300")
    inc = fresh.post("/api/now/table/incident", json={"short_description": "guarded"}).json()["result"]["sys_id"]
    acl = add_acl(fresh, "incident", "null.x; answer = true;", decision_type="deny", admin_overrides="false")
    assert fresh.get(f"/api/now/table/incident/{inc}").status_code == 404
    logs = fresh.get("/api/now/table/syslog", params={"sysparm_query": "level=2^sourceSTARTSWITHsys_security_acl"})
    assert any("TypeError" in x["message"] for x in logs.json()["result"]), logs.text
    set_acl(fresh, acl, script="answer = ;")
    assert fresh.get(f"/api/now/table/incident/{inc}").status_code == 404
    # a runaway loop: stopped, denied, and others are served meanwhile
    set_acl(fresh, acl, script="for (;;) {}")
    answers = {}
    t = threading.Thread(target=lambda: answers.setdefault("r", fresh.get(f"/api/now/table/incident/{inc}",
                                                                          timeout=60)))
    t.start()
    assert fresh.get("/api/now/table/sys_user", params={"sysparm_limit": "1"}).status_code == 200
    t.join()
    assert answers["r"].status_code == 404
    logs = fresh.get("/api/now/table/syslog", params={"sysparm_query": "level=2^sourceSTARTSWITHsys_security_acl"})
    assert any("timeout" in x["message"] for x in logs.json()["result"]), logs.text
    # the script fixed: the record is readable again (the new version, not the cached bytecode)
    set_acl(fresh, acl, script="answer = gs.hasRole('admin');")
    assert fresh.get(f"/api/now/table/incident/{inc}").status_code == 200
