"""javascript: values through the script engine (issue 14).

In an encoded query, the date and user helpers keep their fast path; anything else runs in the
engine as the calling user, with its limits, and a script that fails makes its condition match
nothing (as an unevaluated value did before). Script includes resolve by name, as in any script.
A dictionary default written as javascript: is evaluated at insert, as the inserting user.
"""
import pytest

from conftest import Server, as_user, nowctl

SD = "short_description"


def total(call, q, table="incident"):
    r = call("GET", f"/api/now/table/{table}", params={"sysparm_query": q, "sysparm_fields": "sys_id"})
    assert r.status_code == 200, r.text
    assert int(r.headers["X-Total-Count"]) == len(r.json()["result"])
    return len(r.json()["result"])


@pytest.fixture(scope="module")
def inst():
    s = Server()
    s.set_property("snowglobe.rest.allow_elevation", "true")
    s.call = lambda method, path, **kw: s.get(path, **kw)
    for sd in ("JSV ABC", "jsv abc lower", "JSV FROM-INCLUDE", "JSV ONE", "JSV TWO"):
        assert s.post("/api/now/table/incident", json={SD: sd}).status_code == 201
    nowctl(s, "user", "add", "jsv.user", "--password", "Jsv-user-pass-1", "--role", "itil")
    s.user = as_user(s, "jsv.user", "Jsv-user-pass-1")
    yield s
    s.stop()


def test_expressions_beyond_the_whitelist(inst):
    assert total(inst.call, f"{SD}=javascript:'jsv abc'.toUpperCase()") == 1
    assert total(inst.call, f"{SD}=javascript:['JSV', 'ABC'].join(' ')") == 1
    assert total(inst.call, f"{SD}INjavascript:['JSV ONE', 'JSV TWO']") == 2
    assert total(inst.call, f"{SD}STARTSWITHjavascript:'JSV' + ' ' + 'O'") == 1
    # the fast path is unchanged
    assert total(inst.call, "sys_created_on<javascript:gs.daysAgo(-1)") == total(inst.call, "")
    me = inst.get("/api/now/table/sys_user", params={"user_name": "admin"}).json()["result"][0]["sys_id"]
    assert total(inst.call, "sys_id=javascript:gs.getUserID()", "sys_user") == 1
    assert total(inst.call, f"sys_id=javascript:gs.getUserID()^sys_id={me}", "sys_user") == 1


def test_runs_as_the_calling_user(inst):
    q = "user_name=javascript:gs.getUser().getName ? gs.getUserName() : ''"
    r = inst.user("GET", "/api/now/table/sys_user", params={"sysparm_query": q, "sysparm_fields": "user_name"})
    assert r.status_code == 200 and [x["user_name"] for x in r.json()["result"]] == ["jsv.user"], r.text
    q = "user_name=javascript:gs.hasRole('admin') ? 'admin' : 'jsv.user'"
    assert [x["user_name"] for x in inst.user("GET", "/api/now/table/sys_user",
                                              params={"sysparm_query": q}).json()["result"]] == ["jsv.user"]
    assert [x["user_name"] for x in inst.get("/api/now/table/sys_user",
                                             params={"sysparm_query": q}).json()["result"]] == ["admin"]


def test_script_include_in_a_query(inst):
    src = ("var JsvQuery = Class.create();\n"
           "JsvQuery.prototype = {initialize: function () {}, text: function () { return 'JSV FROM-INCLUDE'; },"
           " type: 'JsvQuery'};")
    r = inst.post("/api/now/table/sys_script_include", json={"name": "JsvQuery", "api_name": "global.JsvQuery",
                                                             "script": src, "active": "true",
                                                             "client_callable": "true"})
    assert r.status_code == 201, r.text
    assert total(inst.call, f"{SD}=javascript:new JsvQuery().text()") == 1
    # an include giving sys_ids, as getMyGroups-style helpers do (an array, joined by commas)
    ids = [x["sys_id"] for x in inst.get("/api/now/table/incident", params={
        "sysparm_query": f"{SD}INJSV ONE,JSV TWO", "sysparm_fields": "sys_id"}).json()["result"]]
    src = "var jsvIds = function () { return %r; };" % ids
    assert inst.post("/api/now/table/sys_script_include", json={"name": "jsvIds", "script": src,
                                                                "client_callable": "true"}).status_code == 201
    assert total(inst.call, "sys_idINjavascript:jsvIds()") == 2


def test_sandbox(inst):
    """glide.script.use.sandbox (true): a client's script cannot write, reads through the user's
    ACLs, and sees only client-callable includes."""
    src = "var JsvHidden = Class.create(); JsvHidden.prototype = {initialize: function () {}, type: 'JsvHidden'};"
    assert inst.post("/api/now/table/sys_script_include", json={"name": "JsvHidden", "script": src}).status_code == 201
    assert total(inst.call, f"{SD}=javascript:typeof JsvHidden == 'undefined' ? 'JSV ONE' : 'x'") == 1
    # writes are ignored, whoever sends them
    q = (f"{SD}=javascript:(function () {{ var g = new GlideRecord('incident'); g.initialize();"
         f" g.short_description = 'JSV SANDBOX WRITE'; g.insert(); gs.setProperty('jsv.prop', 'x');"
         f" gs.info('jsv sandbox log'); return 'JSV ONE'; }})()")
    assert total(inst.call, q) == 1
    assert total(inst.user, q) == 1
    assert total(inst.call, f"{SD}=JSV SANDBOX WRITE") == 0
    assert inst.get("/api/now/table/sys_properties", params={"name": "jsv.prop"}).json()["result"] == []
    assert inst.get("/api/now/table/syslog", params={"sysparm_query": "message=jsv sandbox log"}).json()["result"] == []
    # reads are the user's: jsv.user (itil) may not read sys_user_has_role rows of admin
    q = ("user_name=javascript:(function () { var g = new GlideRecord('sys_security_acl'); g.query();"
         " return g.hasNext() ? 'admin' : 'jsv.user'; })()")
    r = inst.user("GET", "/api/now/table/sys_user", params={"sysparm_query": q, "sysparm_fields": "user_name"})
    assert [x["user_name"] for x in r.json()["result"]] == ["jsv.user"], r.text


def test_failing_scripts_match_nothing(inst):
    for q in (f"{SD}=javascript:no_such_function()", f"{SD}=javascript:null.x",
              f"{SD}=javascript:'unterminated", SD + "!=javascript:(function(){throw new Error('x')})()"):
        assert total(inst.call, q) == 0, q
    assert total(inst.call, f"{SD}=javascript:no_such_function()^ORshort_description=JSV ONE") == 1


def test_runaway_value_is_stopped(fresh):
    fresh.set_property("snowglobe.script.timeout_ms", "300")
    call = lambda method, path, **kw: fresh.get(path, **kw)
    assert total(call, f"{SD}=javascript:(function(){{for(;;){{}}}})()") == 0
    assert fresh.get("/api/now/table/incident", params={"sysparm_limit": "1"}).status_code == 200
    logs = fresh.get("/api/now/table/syslog", params={"sysparm_query": "level=2^source=javascript value"}).json()["result"]
    assert any("timeout" in x["message"] for x in logs)


def test_dictionary_default_through_the_engine(fresh):
    fresh.set_property("snowglobe.rest.allow_elevation", "true")
    d = fresh.get("/api/now/table/sys_dictionary",
                  params={"sysparm_query": "name=incident^element=description"}).json()["result"]
    if not d:
        d = fresh.get("/api/now/table/sys_dictionary",
                      params={"sysparm_query": "name=task^element=description"}).json()["result"]
    assert d
    r = fresh.patch(f"/api/now/table/sys_dictionary/{d[0]['sys_id']}",
                    json={"default_value": "javascript:'by ' + gs.getUserName() + ' ' + (6 * 7)"})
    assert r.status_code == 200, r.text
    nowctl(fresh, "user", "add", "jsv.dflt", "--password", "Jsv-dflt-pass-1", "--role", "itil")
    user = as_user(fresh, "jsv.dflt", "Jsv-dflt-pass-1")
    r = user("POST", "/api/now/table/incident", json={SD: "default"})
    assert r.status_code == 201, r.text
    assert r.json()["result"]["description"] == "by jsv.dflt 42"
    # an explicit value wins; a failing default gives no value
    r = user("POST", "/api/now/table/incident", json={SD: "explicit", "description": "mine"})
    assert r.json()["result"]["description"] == "mine"
    fresh.patch(f"/api/now/table/sys_dictionary/{d[0]['sys_id']}", json={"default_value": "javascript:null.x"})
    r = user("POST", "/api/now/table/incident", json={SD: "failing default"})
    assert r.status_code == 201 and r.json()["result"]["description"] == ""
    # a default is the instance's own script: any include, not only client-callable ones
    src = "var JsvDefault = Class.create(); JsvDefault.prototype = {initialize: function () {}, v: function () { return 'from include'; }};"
    assert fresh.post("/api/now/table/sys_script_include", json={"name": "JsvDefault", "script": src}).status_code == 201
    fresh.patch(f"/api/now/table/sys_dictionary/{d[0]['sys_id']}", json={"default_value": "javascript:new JsvDefault().v()"})
    r = user("POST", "/api/now/table/incident", json={SD: "include default"})
    assert r.json()["result"]["description"] == "from include"
    # GlideDateTime in a default: a date-time value
    fresh.patch(f"/api/now/table/sys_dictionary/{d[0]['sys_id']}",
                json={"default_value": "javascript:new GlideDateTime().getValue()"})
    r = user("POST", "/api/now/table/incident", json={SD: "gdt default"})
    assert len(r.json()["result"]["description"]) == 19 and r.json()["result"]["description"][4] == "-"
