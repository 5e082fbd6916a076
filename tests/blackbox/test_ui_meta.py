"""GET /api/now/ui/meta/{table}: what the console's forms and lists know about a table (issue 20).

The answer is built on the server from its dictionary, for the user who asks: the table's label
and ancestry, each column the user may read (field-level read ACLs decide, as they decide what
the Table API renders) with its dictionary entry and the choices the table sees. A table the
user may not read is the Table API's 403, never a way around it.
"""
import pytest
import requests

from conftest import Server, nowctl, reader

ACL_READ_TABLE = "Insufficient rights to query records"


@pytest.fixture(scope="module")
def inst():
    s = Server()
    nowctl(s, "user", "add", "nobody.user", "--password", "Nobody-pass-12")
    nowctl(s, "user", "add", "itil.meta", "--password", "Itil-pass-1234")
    nowctl(s, "role", "grant", "itil", "--user", "itil.meta")
    s.itil = reader(s, "itil.meta", "Itil-pass-1234")
    s.plain = reader(s, "nobody.user", "Nobody-pass-12")
    yield s
    s.stop()


def meta(get, table):
    r = get("/api/now/ui/meta/" + table)
    assert r.status_code == 200, r.text
    return r.json()["result"]


def test_admin_sees_the_dictionary(inst):
    m = meta(inst.get, "incident")
    assert m["name"] == "incident" and m["label"] == "Incident"
    assert m["ancestry"] == ["incident", "task"]
    assert m["display_field"] == "number"
    cols = m["columns"]
    # own and inherited columns, each with its dictionary entry and the defining table
    assert cols["number"]["table"] == "task" and cols["number"]["read_only"] in (True, False)
    assert cols["caller_id"]["type"] == "reference" and cols["caller_id"]["reference"] == "sys_user"
    assert cols["caller_id"]["table"] == "incident"
    assert cols["short_description"]["label"] == "Short description"
    assert cols["short_description"]["max_length"] > 0
    # incident's own states replace task's (the most specific table's list)
    states = {c["value"]: c["label"] for c in cols["state"]["choices"]}
    assert states.get("6") == "Resolved" and states.get("7") == "Closed", states
    task_states = {c["value"] for c in meta(inst.get, "task")["columns"]["state"]["choices"]}
    assert task_states != set(states)
    assert [c["value"] for c in cols["impact"]["choices"]] == ["1", "2", "3"]
    assert cols["short_description"]["choices"] == []
    # the same as the dictionary the Table API shows an admin
    rows = inst.get("/api/now/table/sys_dictionary",
                    params={"sysparm_query": "name=incident^element=caller_id",
                            "sysparm_fields": "column_label,mandatory"}).json()["result"]
    assert rows[0]["column_label"] == cols["caller_id"]["label"]
    assert str(cols["caller_id"]["mandatory"]).lower() == rows[0]["mandatory"]
    # a secret is a column (a form sets it), never a value
    assert meta(inst.get, "sys_user")["columns"]["user_password"]["type"] == "password"


def test_itil_gets_what_the_dictionary_refuses(inst):
    assert inst.itil("/api/now/table/sys_dictionary", params={"sysparm_limit": 1}).status_code == 403
    m = meta(inst.itil, "incident")
    assert m["ancestry"] == ["incident", "task"]
    cols = m["columns"]
    assert cols["caller_id"]["reference"] == "sys_user"
    assert {c["value"] for c in cols["state"]["choices"]} >= {"1", "2", "6", "7"}
    assert set(cols) == set(meta(inst.get, "incident")["columns"])


def test_unknown_table(inst):
    r = inst.get("/api/now/ui/meta/no_such_table")
    assert r.status_code == 400 and "no_such_table" in r.json()["error"]["message"]


def test_a_table_the_user_may_not_read_is_the_table_apis_403(inst):
    for table in ("incident", "sys_security_acl", "sys_user_role"):
        api = inst.plain("/api/now/table/" + table, params={"sysparm_limit": 1})
        r = inst.plain("/api/now/ui/meta/" + table)
        if api.status_code == 403:
            assert r.status_code == 403 and r.json()["error"]["message"] == ACL_READ_TABLE, r.text
        else:
            assert r.status_code == 200, (table, r.text)
    # no roles: incident is refused by the Table API and here alike
    assert inst.plain("/api/now/table/incident").status_code == 403
    assert inst.plain("/api/now/ui/meta/incident").status_code == 403
    # and no credentials at all is the API's 401
    assert requests.get(inst.url + "/api/now/ui/meta/incident").status_code == 401


def test_a_field_level_acl_hides_the_column(fresh):
    fresh.set_property("snowglobe.rest.allow_elevation", "true")
    nowctl(fresh, "user", "add", "itil.two", "--password", "Itil-pass-1234")
    nowctl(fresh, "role", "grant", "itil", "--user", "itil.two")
    itil = reader(fresh, "itil.two", "Itil-pass-1234")
    assert "description" in meta(itil, "incident")["columns"]
    nowctl(fresh, "acl", "add", "incident.description", "--operation", "read", "--role", "nobody")
    cols = meta(itil, "incident")["columns"]
    assert "description" not in cols and "short_description" in cols
    # the Table API hides it too; task's column is not touched
    inc = itil("/api/now/table/incident", params={"sysparm_limit": 1}).json()["result"][0]
    assert "description" not in inc and "short_description" in inc
    assert "description" in meta(itil, "task")["columns"]
    # "nobody" is the one role admin does not pass: hidden from admin too, in both answers
    assert "description" not in meta(fresh.get, "incident")["columns"]
    assert "description" not in fresh.get("/api/now/table/incident", params={"sysparm_limit": 1}).json()["result"][0]
