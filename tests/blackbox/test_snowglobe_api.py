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
