"""CMDB identification and reconciliation (/api/now/identifyreconcile) and the CMDB Instance API
(/api/now/cmdb/instance), issue 13 item 5.

The RMM scenario: a device inventory sent twice lands without duplicates (INSERT, then
NO_CHANGE), a changed attribute is an UPDATE, a serial number match wins over the name, and two
CIs sharing a name with no serial number are a MULTI_MATCH that writes nothing.  Shapes follow
reference 9.2 / 9.3 and ServiceNow's IRE error messages.
"""
import json
import uuid

import pytest

from conftest import Server, as_user, nowctl

IRE = "/api/now/identifyreconcile"
INST = "/api/now/cmdb/instance"
EDITOR = ("cmdb.editor", "Editor-pass-123")
ITIL = ("itil.only", "Itil-pass-1234")
NOROLE = ("cmdb.norole", "Norole-pass-12")
ASSET = ("asset.user", "Asset-pass-123")


@pytest.fixture(scope="module")
def inst():
    s = Server()
    nowctl(s, "user", "add", EDITOR[0], "--password", EDITOR[1], "--role", "itil", "--role", "sn_cmdb_editor")
    nowctl(s, "user", "add", ITIL[0], "--password", ITIL[1], "--role", "itil")
    nowctl(s, "user", "add", NOROLE[0], "--password", NOROLE[1], "--role", "sn_cmdb_editor")
    nowctl(s, "user", "add", ASSET[0], "--password", ASSET[1], "--role", "asset", "--role", "sn_cmdb_editor")
    s.editor = as_user(s, *EDITOR)
    s.itil = as_user(s, *ITIL)
    s.norole = as_user(s, *NOROLE)
    s.asset = as_user(s, *ASSET)
    yield s
    s.stop()


def uniq(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def count(s, table, query):
    r = s.get(f"/api/now/table/{table}", params={"sysparm_query": query, "sysparm_fields": "sys_id"})
    assert r.status_code == 200, r.text
    return len(r.json()["result"])


def ire(call, payload, path=IRE, **params):
    r = call("POST", path, json=payload, params=params)
    assert r.status_code == 200, r.text
    return r.json()["result"]


def test_rmm_inventory_lands_without_duplicates(inst):
    name, serial = uniq("rmm-host"), uniq("SN")
    payload = {"items": [{"className": "cmdb_ci_linux_server",
                          "values": {"name": name, "serial_number": serial, "ram": "2048", "os": "Linux"}}]}
    res = ire(inst.editor, payload, sysparm_data_source="ServiceNow")
    item = res["items"][0]
    assert item["operation"] == "INSERT"
    assert item["className"] == "cmdb_ci_linux_server"
    assert len(item["sysId"]) == 32
    assert item["errorCount"] == 0 and item["errors"] == []
    assert item["inputIndices"] == [0]
    # Every entry of the computer rule was tried or skipped, in priority order.
    assert [(a["attributes"], a["attemptResult"]) for a in item["identificationAttempts"]] == [
        (["serial_number"], "NO_MATCH"), (["name"], "NO_MATCH"), (["mac_address"], "SKIPPED"),
        (["ip_address"], "SKIPPED")]
    assert {a["identifierName"] for a in item["identificationAttempts"]} == {"Computer Rule"}
    assert {a["searchOnTable"] for a in item["identificationAttempts"]} == {"cmdb_ci_computer"}
    assert set(res) == {"items", "relations", "additionalCommittedItems", "additionalCommittedRelations"}
    rec = inst.get(f"/api/now/table/cmdb_ci_linux_server/{item['sysId']}").json()["result"]
    assert (rec["name"], rec["serial_number"], rec["ram"], rec["discovery_source"]) == (name, serial, "2048", "ServiceNow")
    assert rec["sys_created_by"] == EDITOR[0]

    # The same inventory again: matched by serial number, nothing to change.
    again = ire(inst.editor, payload)["items"][0]
    assert (again["operation"], again["sysId"]) == ("NO_CHANGE", item["sysId"])
    assert [a["attemptResult"] for a in again["identificationAttempts"]] == ["MATCHED"]
    assert again["identifierEntrySysId"] != ""
    assert count(inst, "cmdb_ci", f"name={name}") == 1

    # A changed attribute is an UPDATE of the same CI.
    payload["items"][0]["values"]["ram"] = 4096  # numbers are taken as their text
    upd = ire(inst.editor, payload)["items"][0]
    assert (upd["operation"], upd["sysId"]) == ("UPDATE", item["sysId"])
    rec = inst.get(f"/api/now/table/cmdb_ci_linux_server/{item['sysId']}").json()["result"]
    assert rec["ram"] == "4096" and rec["sys_mod_count"] == "1"
    assert count(inst, "cmdb_ci", f"name={name}") == 1


def test_serial_match_beats_name(inst):
    serial = uniq("SN")
    a = ire(inst.editor, {"items": [{"className": "cmdb_ci_computer",
                                     "values": {"name": uniq("pc-a"), "serial_number": serial}}]})["items"][0]
    other = uniq("pc-b")
    b = ire(inst.editor, {"items": [{"className": "cmdb_ci_computer", "values": {"name": other}}]})["items"][0]
    assert a["operation"] == b["operation"] == "INSERT"
    # The name of b and the serial number of a: the serial number decides (a is renamed).
    res = ire(inst.editor, {"items": [{"className": "cmdb_ci_computer",
                                       "values": {"name": other, "serial_number": serial}}]})["items"][0]
    assert (res["operation"], res["sysId"]) == ("UPDATE", a["sysId"])
    assert [x["attemptResult"] for x in res["identificationAttempts"]] == ["MATCHED"]
    assert res["identificationAttempts"][0]["attributes"] == ["serial_number"]


def test_multi_match_writes_nothing(inst):
    name = uniq("dup")
    for _ in range(2):
        r = inst.post("/api/now/table/cmdb_ci_computer", json={"name": name})
        assert r.status_code == 201
    res = ire(inst.editor, {"items": [{"className": "cmdb_ci_computer", "values": {"name": name, "ram": "1"}}]})
    item = res["items"][0]
    assert item["operation"] == "NO_CHANGE" and item["sysId"] == "Unknown"
    assert [x["attemptResult"] for x in item["identificationAttempts"]] == ["SKIPPED", "MULTI_MATCH"]
    assert item["errorCount"] == 1
    assert item["errors"] == [{"error": "MULTIPLE_DUPLICATE_RECORDS",
                               "message": "Found duplicate records in table [cmdb_ci_computer] using fields [name]"}]
    assert count(inst, "cmdb_ci_computer", f"name={name}^ram=1") == 0
    assert count(inst, "cmdb_ci", f"name={name}") == 2


def test_dry_run_writes_nothing(inst):
    name = uniq("dry")
    payload = {"items": [{"className": "cmdb_ci_linux_server", "values": {"name": name}},
                         {"className": "cmdb_ci_service", "values": {"name": name + "-svc"}}],
               "relations": [{"parent": 1, "child": 0, "type": "Depends on::Used by"}]}
    before = count(inst, "cmdb_rel_ci", "")
    for path in (IRE + "/query", IRE + "/queryEnhanced"):
        res = ire(inst.editor, payload, path=path, options="partial_commits:true")
        assert [i["operation"] for i in res["items"]] == ["INSERT", "INSERT"]
        assert [i["sysId"] for i in res["items"]] == ["Unknown", "Unknown"]
        assert res["relations"][0]["operation"] == "INSERT"
    assert count(inst, "cmdb_ci", f"nameSTARTSWITH{name}") == 0
    assert count(inst, "cmdb_rel_ci", "") == before
    # The dry run of an existing CI says what a commit would do.
    ire(inst.editor, {"items": payload["items"][:1]})
    res = ire(inst.editor, {"items": [{"className": "cmdb_ci_linux_server", "values": {"name": name, "ram": "8"}}]},
              path=IRE + "/query")
    assert res["items"][0]["operation"] == "UPDATE" and len(res["items"][0]["sysId"]) == 32
    assert count(inst, "cmdb_ci_computer", f"name={name}^ram=8") == 0


def test_relations_by_index_and_internal_id_not_duplicated(inst):
    host, app = uniq("host"), uniq("app")
    payload = {"items": [{"className": "cmdb_ci_linux_server", "values": {"name": host}, "internal_id": "h"},
                         {"className": "cmdb_ci_service", "values": {"name": app}, "internal_id": "a"}],
               "relations": [{"parent": 1, "child": 0, "type": "Runs on::Runs"},
                             {"parent_id": "a", "child_id": "h", "type": "Depends on::Used by"}]}
    res = ire(inst.editor, payload)
    h, a = (i["sysId"] for i in res["items"])
    assert [r["operation"] for r in res["relations"]] == ["INSERT", "INSERT"]
    rels = inst.get("/api/now/table/cmdb_rel_ci", params={"sysparm_query": f"child={h}", "sysparm_display_value": "all",
                                                          "sysparm_fields": "parent,child,type"}).json()["result"]
    assert sorted(r["type"]["display_value"] for r in rels) == ["Depends on::Used by", "Runs on::Runs"]
    assert {r["parent"]["value"] for r in rels} == {a}
    again = ire(inst.editor, payload)
    assert [r["operation"] for r in again["relations"]] == ["NO_CHANGE", "NO_CHANGE"]
    assert [r["sysId"] for r in again["relations"]] == [r["sysId"] for r in res["relations"]]
    assert count(inst, "cmdb_rel_ci", f"child={h}") == 2


def test_duplicate_items_merge(inst):
    name = uniq("twice")
    res = ire(inst.editor, {"items": [
        {"className": "cmdb_ci_linux_server", "values": {"name": name, "os": "Linux"}},
        {"className": "cmdb_ci_linux_server", "values": {"name": name, "ram": "512"}}]})
    assert len(res["items"]) == 1
    item = res["items"][0]
    assert item["operation"] == "INSERT" and item["inputIndices"] == [0, 1]
    rec = inst.get(f"/api/now/table/cmdb_ci_linux_server/{item['sysId']}").json()["result"]
    assert (rec["os"], rec["ram"]) == ("Linux", "512")
    # Without deduplication (enhanced option), the second is an error and is not written.
    name2 = uniq("twice")
    res = ire(inst.editor, {"items": [
        {"className": "cmdb_ci_linux_server", "values": {"name": name2}},
        {"className": "cmdb_ci_linux_server", "values": {"name": name2}}]},
        path=IRE + "/enhanced", options="deduplicate_payloads:false")
    assert [i["operation"] for i in res["items"]] == ["INSERT", "NO_CHANGE"]
    assert res["items"][1]["errors"][0]["error"] == "DUPLICATE_PAYLOAD_RECORDS"
    assert count(inst, "cmdb_ci", f"name={name2}") == 1


def test_item_errors(inst):
    res = ire(inst.editor, {"items": [
        {"className": "no_such_class", "values": {"name": "x"}},
        {"className": "cmdb_ci_linux_server", "values": {"os": "Linux"}},
        {"className": "cmdb_ci", "values": {"name": "plain"}},
        {"className": "cmdb_ci_linux_server", "values": {"name": uniq("ok")}}]})
    errs = [(i["errors"][0]["error"] if i["errors"] else None) for i in res["items"]]
    assert errs == ["INVALID_INPUT_DATA", "MISSING_MATCHING_ATTRIBUTES", "IDENTIFICATION_RULE_MISSING", None]
    assert res["items"][0]["errors"][0]["message"] == "In payload invalid className [no_such_class]"
    assert res["items"][1]["errors"][0]["message"].startswith(
        "In payload missing minimum set of input values for criterion (matching) attributes from identify "
        "rule for table [cmdb_ci_linux_server]. Add these input values in payload item ")
    assert res["items"][2]["errors"][0]["message"] == "Identity Rule Missing for table [cmdb_ci]"
    assert [i["errorCount"] for i in res["items"]] == [1, 1, 1, 0]
    assert [i["sysId"] == "Unknown" for i in res["items"]] == [True, True, True, False]
    assert res["items"][3]["operation"] == "INSERT"


def test_bad_relation_rejects_the_payload(inst):
    name = uniq("badrel")
    res = ire(inst.editor, {"items": [{"className": "cmdb_ci_linux_server", "values": {"name": name}}],
                            "relations": [{"parent": 0, "child": 5, "type": "Runs on::Runs"}]})
    assert res["items"][0]["errors"][0]["error"] == "INVALID_INPUT_DATA"
    assert "has invalid child record index" in res["items"][0]["errors"][0]["message"]
    res = ire(inst.editor, {"items": [{"className": "cmdb_ci_linux_server", "values": {"name": name}}],
                            "relations": [{"parent": 0, "child": 0, "type": "Likes::Liked by"}]})
    assert res["items"][0]["errors"][0]["message"] == (
        "No such relationship with name [Likes::Liked by] exist in table [cmdb_rel_type]. If out-of-box "
        "relationship for [Likes::Liked by] has been removed or renamed, it should be restored")
    assert count(inst, "cmdb_ci", f"name={name}") == 0


@pytest.mark.parametrize("body,status,detail", [
    ("{not json", 400, "The payload is not valid JSON."),
    ("[1, 2]", 400, "The payload is not valid JSON."),
    ('{"items": []}', 400, "The payload must hold a non-empty array 'items'"),
    ('{"items": {"a": 1}}', 400, "The payload must hold a non-empty array 'items'"),
    ('{"items": [{}], "relations": 3}', 400, "The payload's 'relations' must be an array"),
])
def test_malformed_body(inst, body, status, detail):
    r = inst.editor("POST", IRE, data=body, headers={"Content-Type": "application/json"})
    assert r.status_code == status, r.text
    assert r.json()["status"] == "failure" and r.json()["error"]["detail"] == detail


def test_empty_body_and_json_only(inst):
    r = inst.editor("POST", IRE, data="", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["detail"] == "No request body found"
    r = inst.editor("POST", IRE, data="<items/>", headers={"Content-Type": "application/xml"})
    assert r.status_code == 415 and r.json()["status"] == "failure"


def test_roles(inst):
    payload = {"items": [{"className": "cmdb_ci_linux_server", "values": {"name": uniq("role")}}]}
    r = inst.norole("POST", IRE, json=payload)
    assert r.status_code == 403
    assert r.json() == {"error": {"message": "User Not Authorized",
                                  "detail": "The user does not have the role required by this API"},
                        "status": "failure"}
    # asset is enough for IRE, not for the Instance API (itil).
    assert ire(inst.asset, payload)["items"][0]["operation"] == "INSERT"
    assert inst.asset("GET", INST + "/cmdb_ci_linux_server").status_code == 403
    r = inst.session.post(inst.url + IRE, json=payload, auth=("admin", "wrong"))
    assert r.status_code == 401


def test_ire_passes_write_acls(inst):
    # itil reads CIs but may not create or change them (sn_cmdb_editor may).
    name = uniq("acl")
    res = ire(inst.itil, {"items": [{"className": "cmdb_ci_linux_server", "values": {"name": name}}]})
    item = res["items"][0]
    assert item["errors"][0]["error"] == "INSUFFICIENT_RIGHTS" and item["sysId"] == "Unknown"
    assert count(inst, "cmdb_ci", f"name={name}") == 0
    made = ire(inst.editor, {"items": [{"className": "cmdb_ci_linux_server", "values": {"name": name}}]})
    sid = made["items"][0]["sysId"]
    res = ire(inst.itil, {"items": [{"className": "cmdb_ci_linux_server", "values": {"name": name, "ram": "9"}}]})
    assert res["items"][0]["errors"][0]["error"] == "INSUFFICIENT_RIGHTS"
    assert inst.get(f"/api/now/table/cmdb_ci/{sid}").json()["result"].get("ram", "") != "9"
    # Unchanged: no write, no refusal.
    res = ire(inst.itil, {"items": [{"className": "cmdb_ci_linux_server", "values": {"name": name}}]})
    assert res["items"][0]["operation"] == "NO_CHANGE" and res["items"][0]["errors"] == []


# ---- CMDB Instance API -------------------------------------------------------------------------

def rel_type_id(inst, name):
    return inst.get("/api/now/table/cmdb_rel_type", params={"name": name}).json()["result"][0]["sys_id"]


def test_instance_list(inst):
    name = uniq("lst")
    sid = ire(inst.editor, {"items": [{"className": "cmdb_ci_linux_server", "values": {"name": name}}]})["items"][0]["sysId"]
    r = inst.editor("GET", INST + "/cmdb_ci_linux_server", params={"sysparm_query": f"name={name}"})
    assert r.status_code == 200
    assert r.json() == {"result": [{"sys_id": sid, "name": name}]}
    r = inst.editor("GET", INST + "/cmdb_ci_linux_server", params={"sysparm_limit": "1"})
    assert len(r.json()["result"]) == 1
    r1 = inst.editor("GET", INST + "/cmdb_ci_linux_server", params={"sysparm_limit": "1", "sysparm_offset": "1"})
    assert r1.json()["result"] != r.json()["result"]
    # A class that is not a CI class, or no table at all.
    assert inst.editor("GET", INST + "/incident").status_code == 400
    r = inst.editor("GET", INST + "/nope")
    assert r.status_code == 400 and r.json()["error"]["message"] == "Invalid table nope"
    r = inst.editor("GET", INST + "/cmdb_ci_linux_server", params={"sysparm_limit": "x"})
    assert r.status_code == 400


def test_instance_create_get_update_relations(inst):
    target = ire(inst.editor, {"items": [{"className": "cmdb_ci_service", "values": {"name": uniq("svc")}}]})["items"][0]["sysId"]
    depends = rel_type_id(inst, "Depends on::Used by")
    runs = rel_type_id(inst, "Runs on::Runs")
    assert depends == "1a9cb166f1571100a92eb60da2bce5c5"
    name = uniq("inst")
    body = {"source": "ServiceNow", "attributes": {"name": name, "ram": "1024", "company": ""},
            "outbound_relations": [{"type": depends, "target": target}],
            "inbound_relations": [{"type": runs, "target": target}]}
    r = inst.editor("POST", INST + "/cmdb_ci_linux_server", json=body)
    assert r.status_code == 201, r.text
    res = r.json()["result"]
    assert list(res) == ["outbound_relations", "attributes", "inbound_relations"]
    attrs = res["attributes"]
    sid = attrs["sys_id"]
    assert (attrs["name"], attrs["ram"], attrs["discovery_source"], attrs["sys_class_name"]) == (
        name, "1024", "ServiceNow", "cmdb_ci_linux_server")
    assert attrs["company"] == "" and attrs["sys_domain"] == "global"
    assert attrs["first_discovered"] != "" and attrs["first_discovered"] == attrs["last_discovered"]
    out = res["outbound_relations"]
    assert len(out) == 1 and set(out[0]) == {"sys_id", "target", "type"}
    assert out[0]["type"] == {"display_value": "Depends on::Used by",
                              "link": f"{inst.url}/api/now/table/cmdb_rel_type/{depends}", "value": depends}
    assert out[0]["target"]["value"] == target
    assert out[0]["target"]["link"] == f"{inst.url}/api/now/cmdb/instance/cmdb_ci/{target}"
    assert res["inbound_relations"][0]["type"]["display_value"] == "Runs on::Runs"

    # GET: the same shape; a reference as display_value/link/value.
    company = inst.get("/api/now/table/core_company", params={"sysparm_limit": "1"}).json()["result"][0]
    r = inst.editor("PATCH", f"{INST}/cmdb_ci_linux_server/{sid}", json={"attributes": {"company": company["sys_id"], "ram": 2048}})
    assert r.status_code == 200, r.text
    got = inst.editor("GET", f"{INST}/cmdb_ci_linux_server/{sid}").json()["result"]
    assert got["attributes"]["company"] == {"display_value": company["name"],
                                            "link": f"{inst.url}/api/now/table/core_company/{company['sys_id']}",
                                            "value": company["sys_id"]}
    assert (got["attributes"]["ram"], got["attributes"]["name"]) == ("2048", name)
    assert len(got["outbound_relations"]) == 1 and len(got["inbound_relations"]) == 1
    # The parent class path finds it too.
    assert inst.editor("GET", f"{INST}/cmdb_ci/{sid}").status_code == 200

    # PUT replaces the attributes: the ones not given go back to their defaults; relations stay.
    r = inst.editor("PUT", f"{INST}/cmdb_ci_linux_server/{sid}", json={"attributes": {"name": name}})
    assert r.status_code == 200, r.text
    got = r.json()["result"]
    assert (got["attributes"]["ram"], got["attributes"]["company"], got["attributes"]["name"]) == ("", "", name)
    assert len(got["outbound_relations"]) == 1 and len(got["inbound_relations"]) == 1

    # Add a relation, then delete it.
    other = ire(inst.editor, {"items": [{"className": "cmdb_ci_service", "values": {"name": uniq("svc")}}]})["items"][0]["sysId"]
    r = inst.editor("POST", f"{INST}/cmdb_ci_linux_server/{sid}/relation",
                    json={"source": "ServiceNow", "outbound_relations": [{"type": depends, "target": other}]})
    assert r.status_code == 201, r.text
    outs = r.json()["result"]["outbound_relations"]
    assert sorted(o["target"]["value"] for o in outs) == sorted([target, other])
    rel = next(o["sys_id"] for o in outs if o["target"]["value"] == other)
    # itil alone may not remove it (cmdb_rel_ci delete needs sn_cmdb_editor).
    r = inst.itil("DELETE", f"{INST}/cmdb_ci_linux_server/{sid}/relation/{rel}")
    assert r.status_code == 403
    r = inst.editor("DELETE", f"{INST}/cmdb_ci_linux_server/{sid}/relation/{rel}")
    assert r.status_code == 204 and r.text == ""
    assert inst.get(f"/api/now/table/cmdb_rel_ci/{rel}").status_code == 404
    r = inst.delete(f"{INST}/cmdb_ci_linux_server/{sid}/relation/{rel}")
    assert r.status_code == 404
    # A relation of another CI is not this CI's to delete.
    keep = outs[0]["sys_id"] if outs[0]["sys_id"] != rel else outs[1]["sys_id"]
    r = inst.delete(f"{INST}/cmdb_ci_service/{other}/relation/{keep}")
    assert r.status_code == 404
    assert inst.get(f"/api/now/table/cmdb_rel_ci/{keep}").status_code == 200


def test_instance_errors(inst):
    sid = ire(inst.editor, {"items": [{"className": "cmdb_ci_linux_server", "values": {"name": uniq("err")}}]})["items"][0]["sysId"]
    r = inst.editor("GET", f"{INST}/cmdb_ci_linux_server/{'0' * 32}")
    assert r.status_code == 404 and r.json()["error"]["message"] == "No Record found"
    r = inst.editor("POST", INST + "/cmdb_ci_linux_server", json={"attributes": {"name": "nosource"}})
    assert r.status_code == 400 and r.json()["error"]["detail"] == "source is required"
    r = inst.editor("POST", INST + "/cmdb_ci_linux_server",
                    json={"source": "ServiceNow", "attributes": {"name": "badrel"},
                          "outbound_relations": [{"type": "0" * 32, "target": sid}]})
    assert r.status_code == 400
    assert count(inst, "cmdb_ci", "name=badrel") == 0
    r = inst.editor("POST", INST + "/cmdb_ci_linux_server", data="{oops", headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    r = inst.editor("POST", f"{INST}/cmdb_ci_linux_server/{sid}/relation", json={"source": "x"})
    assert r.status_code == 400
    r = inst.editor("DELETE", f"{INST}/cmdb_ci_linux_server/{sid}")
    assert r.status_code == 405


def test_instance_acls(inst):
    name = uniq("iacl")
    sid = ire(inst.editor, {"items": [{"className": "cmdb_ci_linux_server", "values": {"name": name}}]})["items"][0]["sysId"]
    # itil reads, but may not create or change a CI.
    assert inst.itil("GET", f"{INST}/cmdb_ci_linux_server/{sid}").status_code == 200
    r = inst.itil("POST", INST + "/cmdb_ci_linux_server", json={"source": "ServiceNow", "attributes": {"name": uniq("n")}})
    assert r.status_code == 403
    r = inst.itil("PATCH", f"{INST}/cmdb_ci_linux_server/{sid}", json={"attributes": {"ram": "77"}})
    assert r.status_code == 403
    assert inst.get(f"/api/now/table/cmdb_ci/{sid}").json()["result"].get("ram", "") != "77"
    # Without the itil role, no Instance API at all.
    assert inst.norole("GET", f"{INST}/cmdb_ci_linux_server/{sid}").status_code == 403
    # A row ACL hiding the CI hides it from the Instance API as from the Table API.
    inst.set_property("snowglobe.rest.allow_elevation", "true")
    sec = {"X-Snowglobe-Elevate": "security_admin"}
    acl = inst.post("/api/now/table/sys_security_acl", headers=sec,
                    json={"name": "cmdb_ci_linux_server", "type": "record", "operation": "read",
                          "condition": f"name!={name}", "admin_overrides": "true"})
    assert acl.status_code == 201, acl.text
    try:
        assert inst.editor("GET", f"/api/now/table/cmdb_ci_linux_server/{sid}").status_code == 404
        assert inst.editor("GET", f"{INST}/cmdb_ci_linux_server/{sid}").status_code == 404
        names = [x["name"] for x in inst.editor("GET", INST + "/cmdb_ci_linux_server").json()["result"]]
        assert name not in names and names
    finally:
        inst.delete(f"/api/now/table/sys_security_acl/{acl.json()['result']['sys_id']}", headers=sec)


def test_defaults_on_a_new_instance(inst):
    rules = inst.get("/api/now/table/cmdb_identifier_entry",
                     params={"sysparm_query": "identifier.applies_to=cmdb_ci_hardware^ORDERBYpriority",
                             "sysparm_fields": "attributes,priority"}).json()["result"]
    assert [(r["attributes"], r["priority"]) for r in rules] == [
        ("serial_number", "100"), ("name", "200"), ("mac_address", "300")]
    types = {r["name"] for r in inst.get("/api/now/table/cmdb_rel_type", params={"sysparm_fields": "name"}).json()["result"]}
    assert {"Runs on::Runs", "Depends on::Used by", "Contains::Contained by", "Hosted on::Hosts"} <= types
    # Exactly one of each, with demo data loaded on top.
    assert count(inst, "cmdb_rel_type", "name=Runs on::Runs") == 1


def test_defaults_without_demo():
    s = Server(demo=False)
    try:
        assert count(s, "cmdb_identifier", "active=true") == 3
        res = s.post(IRE, json={"items": [{"className": "cmdb_ci_netgear", "values": {"name": "sw1", "mac_address": "aa:bb"}}]})
        assert res.status_code == 200 and res.json()["result"]["items"][0]["operation"] == "INSERT"
        assert res.json()["result"]["items"][0]["identificationAttempts"][0]["identifierName"] == "Hardware Rule"
    finally:
        s.stop()


def test_data_source_must_be_a_discovery_source_choice(inst):
    name = uniq("src")
    payload = {"items": [{"className": "cmdb_ci_linux_server", "values": {"name": name}}]}
    res = ire(inst.editor, payload, sysparm_data_source="NoSuchSource")
    assert res["items"][0]["errors"] == [{
        "error": "INVALID_INPUT_DATA",
        "message": "In payload invalid data source [NoSuchSource] exist. You need to provide a valid choice value "
                   "from field [discovery_source] in table [cmdb_ci]"}]
    assert count(inst, "cmdb_ci", f"name={name}") == 0
    item = ire(inst.editor, payload, sysparm_data_source="SCCM")["items"][0]
    rec = inst.get(f"/api/now/table/cmdb_ci/{item['sysId']}").json()["result"]
    assert rec["discovery_source"] == "SCCM"
    assert rec["first_discovered"] and rec["first_discovered"] == rec["last_discovered"]
