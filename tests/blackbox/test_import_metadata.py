"""nowctl import-metadata (issue 18, item 5): one nowd plays the customer's instance (custom u_ fields,
choices and a custom table, made by nowctl); another imports them over the Table API by URL, then
accepts records with them; the same through --save/--file; a second import changes nothing."""
import json
import os
import subprocess

import pytest

from conftest import BIN, PASSWORD, Server, nowctl


@pytest.fixture(scope="module")
def pair():
    real, mine = Server(demo=False), Server(demo=False)
    yield real, mine
    real.stop()
    mine.stop()


def importing(target, *args, offline=False, ok=True):
    env = dict(os.environ, NOWCTL_PASSWORD=PASSWORD, NOWCTL_IMPORT_PASSWORD=PASSWORD)
    where = target.where if offline else ["--instance", target.url, "--user", "admin"]
    r = subprocess.run([os.path.join(BIN, "nowctl"), *where, "--json", "import-metadata", *args],
                       capture_output=True, text=True, env=env)
    if ok:
        assert r.returncode == 0, (r.stdout, r.stderr)
        return json.loads(r.stdout)
    return r


def customise(real):
    for path, body in (
            ("sys_dictionary", {"name": "incident", "element": "u_vendor_ticket", "internal_type": "string",
                                "column_label": "Vendor ticket", "max_length": "64"}),
            ("sys_dictionary", {"name": "incident", "element": "u_severity_tier", "internal_type": "string",
                                "column_label": "Severity tier", "choice": "3"}),
            ("sys_choice", {"name": "incident", "element": "u_severity_tier", "value": "gold", "label": "Gold",
                            "sequence": "1", "language": "en"}),
            ("sys_choice", {"name": "incident", "element": "u_severity_tier", "value": "silver",
                            "label": "Silver", "sequence": "2", "language": "en"}),
            ("sys_db_object", {"name": "u_vendor_contract", "label": "Vendor contract"}),
            ("sys_dictionary", {"name": "u_vendor_contract", "element": "u_number", "internal_type": "string",
                                "column_label": "Number"}),
            ("sys_dictionary", {"name": "u_vendor_contract", "element": "u_renewal", "internal_type":
                                "glide_date_time", "column_label": "Renewal"}),
            ("sys_dictionary", {"name": "u_vendor_contract", "element": "u_owner", "internal_type": "reference",
                                "reference": "sys_user", "column_label": "Owner"})):
        out = nowctl(real, "--json", "table", "create", path, *[f"{k}={v}" for k, v in body.items()])
        assert out.returncode == 0


def test_import_by_url_then_from_a_saved_file(pair, tmp_path):
    real, mine = pair
    customise(real)
    saved = tmp_path / "export.json"
    rep = importing(mine, "--from", real.url, "--user", "admin", "--tables", "incident,u_vendor_contract",
                    "--save", str(saved))
    added = {(x["table"], x["key"]) for x in rep["rows"] if x["action"] == "added"}
    assert ("sys_db_object", "u_vendor_contract") in added
    assert ("sys_dictionary", "incident.u_vendor_ticket") in added
    assert ("sys_dictionary", "u_vendor_contract.u_owner") in added
    assert ("sys_choice", "incident.u_severity_tier=gold") in added
    # built-in columns are kept, never changed
    kept = [x for x in rep["rows"] if x["key"] == "task.short_description"]
    assert kept and kept[0]["action"] == "skipped" and "built-in" in kept[0]["reason"]
    assert rep["changed"] == 0

    r = mine.post("/api/now/table/incident", json={"short_description": "imported", "u_vendor_ticket": "V-1",
                                                   "u_severity_tier": "gold"},
                  params={"sysparm_display_value": "true"})
    assert r.status_code == 201, r.text
    assert r.json()["result"]["u_vendor_ticket"] == "V-1"
    assert r.json()["result"]["u_severity_tier"] == "Gold"
    r = mine.post("/api/now/table/u_vendor_contract", json={"u_number": "C-7", "u_renewal": "2030-01-01 00:00:00",
                                                            "u_owner": "6816f79cc0a8016401c5a33be04be441"})
    assert r.status_code == 201, r.text
    assert r.json()["result"]["u_owner"]["value"] == "6816f79cc0a8016401c5a33be04be441"

    # a second import changes nothing
    again = importing(mine, "--from", real.url, "--user", "admin", "--tables", "incident,u_vendor_contract")
    assert (again["added"], again["changed"]) == (0, 0), again

    # the saved export into a third instance, offline
    third = Server(demo=False)
    try:
        third.proc.terminate()
        third.proc.wait(timeout=30)
        rep = importing(third, "--file", str(saved), offline=True)
        assert rep["added"] >= 8 and rep["changed"] == 0
        assert importing(third, "--file", str(saved), offline=True)["added"] == 0
        third.start()
        r = third.post("/api/now/table/incident", json={"short_description": "x", "u_vendor_ticket": "V-2"})
        assert r.status_code == 201 and r.json()["result"]["u_vendor_ticket"] == "V-2"
    finally:
        third.stop()


def test_bad_source_and_usage(pair, tmp_path):
    real, mine = pair
    env = dict(os.environ, NOWCTL_PASSWORD=PASSWORD, NOWCTL_IMPORT_PASSWORD="wrong")
    r = subprocess.run([os.path.join(BIN, "nowctl"), *mine.where, "import-metadata", "--from", real.url,
                        "--user", "admin", "--tables", "incident"], capture_output=True, text=True, env=env)
    assert r.returncode == 1 and "HTTP 401" in r.stderr
    bad = tmp_path / "bad.json"
    bad.write_text("{\"nothing\": 1}")
    assert importing(mine, "--file", str(bad), ok=False).returncode == 1
    assert importing(mine, "--tables", "incident", ok=False).returncode == 2
