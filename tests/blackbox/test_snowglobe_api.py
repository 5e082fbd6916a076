"""The gate of the test-double powers under /_snowglobe/ (issue 18): the admin's only, and gone
entirely under nowd --no-snowglobe-api, where the paths answer as paths no route knows."""
import requests

from conftest import PASSWORD, Server, as_user, nowctl


def test_the_index_lists_the_powers_to_an_admin_only(server):
    r = server.get("/_snowglobe")
    assert r.status_code == 200, r.text
    res = r.json()["result"]
    assert res["version"]
    assert {"method": "GET", "path": "/_snowglobe"} in res["routes"]
    assert all(x["path"].startswith("/_snowglobe") for x in res["routes"])
    assert server.get("/_snowglobe/").status_code == 200

    nowctl(server, "user", "add", "sg_itil_user", "--password", PASSWORD, "--role", "itil")
    r = as_user(server, "sg_itil_user", PASSWORD)("GET", "/_snowglobe")
    assert r.status_code == 403
    assert r.json() == {"error": {"message": "Insufficient rights",
                                  "detail": "The Snowglobe test API (/_snowglobe/) requires the admin role"},
                        "status": "failure"}

    r = requests.get(server.url + "/_snowglobe", headers={"Accept": "application/json"})
    assert r.status_code == 401



def test_every_power_refuses_a_non_admin_before_it_acts(server):
    """The gate is one check in front of every route under the prefix: a route added later
    cannot forget it.  Each listed route, called by an itil user, is refused and changes
    nothing (the faults and the clock are read back as the admin)."""
    nowctl(server, "user", "add", "sg_gate_user", "--password", PASSWORD, "--role", "itil",
           ok=None)
    call = as_user(server, "sg_gate_user", PASSWORD)
    def clock():
        c = server.get("/_snowglobe/clock").json()["result"]
        return c["mode"], c["frozen"], c["offset_seconds"]

    clock_before = clock()
    faults_before = server.get("/_snowglobe/faults").json()["result"]
    routes = server.get("/_snowglobe").json()["result"]["routes"]
    assert len(routes) >= 15
    for route in routes:
        path = route["path"].replace("{id}", "1").replace("{name}", "init")
        body = {"action": "freeze", "name": "gate", "status": 500} \
            if route["method"] == "POST" else None
        r = call(route["method"], path, json=body)
        assert r.status_code == 403, (route, r.status_code, r.text)
        assert r.json()["error"]["message"] == "Insufficient rights"
    assert clock() == clock_before
    assert server.get("/_snowglobe/faults").json()["result"] == faults_before
    names = [s["name"] for s in server.get("/_snowglobe/snapshots").json()["result"]]
    assert "gate" not in names

def test_no_snowglobe_api_answers_as_an_unknown_path():
    s = Server(extra=["--no-snowglobe-api"])
    try:
        unknown = s.get("/_snowglobe_nothing_here")
        for path in ("/_snowglobe", "/_snowglobe/", "/_snowglobe/reset"):
            r = s.get(path)
            assert (r.status_code, r.text) == (unknown.status_code, unknown.text), path
        assert s.post("/_snowglobe/reset", json={}).status_code == unknown.status_code
        # The rest of the instance is unchanged.
        assert s.get("/api/now/table/incident?sysparm_limit=1").status_code == 200
    finally:
        s.stop()
