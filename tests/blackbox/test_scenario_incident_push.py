"""Scenario 2's real-time push (an incident-response product, incident.io-style): an after-update
business rule on incident posts the fields that changed (current.<field>.changes()) as JSON to
the product's webhook, through a REST message with a basic auth profile, queued with
executeAsync so it is durable.  The webhook (Python's http.server in a thread) sees exactly the
changed fields of each update, in order per incident, across an outage of its own; the basic
password is never in clear in the database, the log or a REST answer."""
import base64
import glob
import http.server
import json
import os
import secrets
import threading
import time

import pytest

from conftest import Server, free_port, nowctl, wait_for

HOOK_USER, HOOK_PASSWORD = "snowglobe-push", "Hook-pass-" + secrets.token_hex(8)

WATCHED = ["short_description", "description", "state", "impact", "urgency", "priority",
           "category", "assigned_to", "assignment_group", "close_code", "close_notes"]

RULE = """(function executeRule(current, previous) {
    var watched = %s;
    var changed = {}, n = 0;
    for (var i = 0; i < watched.length; i++) {
        var f = watched[i];
        if (current[f].changes()) {
            changed[f] = {value: current.getValue(f), previous: previous.getValue(f)};
            n++;
        }
    }
    if (!n)
        return;
    var m = new sn_ws.RESTMessageV2('incident.io', 'push');
    m.setRequestBody(JSON.stringify({sys_id: current.getUniqueValue(), number: current.getValue('number'),
                                     mod_count: current.getValue('sys_mod_count'), changed: changed}));
    m.executeAsync();
})(current, previous);""" % json.dumps(WATCHED)


class Webhook:
    """Takes POST /hooks/servicenow with the right Basic credentials (401 otherwise); keeps
    every accepted body in order.  down() / up() on the same port."""

    def __init__(self):
        self.lock, self.got, self.refused = threading.Lock(), [], 0
        self.port = free_port()
        self.up()

    def up(self):
        hook = self
        want = "Basic " + base64.b64encode(f"{HOOK_USER}:{HOOK_PASSWORD}".encode()).decode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                ok = (self.path == "/hooks/servicenow" and self.headers.get("Authorization") == want
                      and self.headers.get("Content-Type", "").startswith("application/json"))
                with hook.lock:
                    if ok:
                        hook.got.append(json.loads(raw))
                    else:
                        hook.refused += 1
                self.send_response(202 if ok else 401)
                self.send_header("Content-Length", "0")
                self.end_headers()

        class Srv(http.server.ThreadingHTTPServer):
            allow_reuse_address = True
            daemon_threads = True

        self.httpd = Srv(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def down(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def for_incident(self, sys_id):
        """The changed fields of each push about sys_id, first receipts in order (a repeat of
        the same update, at least once, is dropped)."""
        seen, out = set(), []
        with self.lock:
            for g in self.got:
                if g["sys_id"] == sys_id and g["mod_count"] not in seen:
                    seen.add(g["mod_count"])
                    out.append({k: v["value"] for k, v in g["changed"].items()})
        return out


@pytest.fixture
def hook():
    h = Webhook()
    yield h
    h.down()


def ctl(srv, *args):
    return nowctl(srv, *args, offline=True)


def create(srv, table, **fields):
    r = ctl(srv, "--json", "table", "create", table, *[f"{k}={v}" for k, v in fields.items()])
    return json.loads(r.stdout)["sys_id"]


def set_up(srv, hook):
    ctl(srv, "property", "set", "snowglobe.outbound.backoff_base_ms", "500")
    ctl(srv, "property", "set", "snowglobe.outbound.backoff_max_ms", "2000")
    ctl(srv, "property", "set", "snowglobe.outbound.max_attempts", "200")
    prof = create(srv, "sys_auth_profile_basic", name="incident.io webhook", username=HOOK_USER,
                  password=HOOK_PASSWORD)
    mid = create(srv, "sys_rest_message", name="incident.io", rest_endpoint=f"http://127.0.0.1:{hook.port}",
                 authentication_type="basic", basic_auth_profile=prof)
    fid = create(srv, "sys_rest_message_fn", rest_message=mid, function_name="push", http_method="post",
                 rest_endpoint=f"http://127.0.0.1:{hook.port}/hooks/servicenow")
    create(srv, "sys_rest_message_fn_headers", rest_message_function=fid, name="Content-Type",
           value="application/json")
    create(srv, "sys_script", name="incident.io real-time push", collection="incident", when="after",
           action_update="true", active="true", order="200", script=RULE)


PLAIN = {"sysparm_exclude_reference_link": "true"}


def patch(srv, sys_id, **fields):
    r = srv.patch(f"/api/now/table/incident/{sys_id}", json=fields, params=PLAIN)
    assert r.status_code == 200, r.text
    return r.json()["result"]


def test_push_sends_exactly_the_changed_fields_in_order(hook):
    srv = Server()  # the demo data: users and groups to assign to
    try:
        set_up(srv, hook)
        user = srv.get("/api/now/table/sys_user", params={"user_name": "abel.tuter"}).json()["result"]
        group = srv.get("/api/now/table/sys_user_group", params={"sysparm_limit": "1"}).json()["result"]
        assert user and group
        a = srv.post("/api/now/table/incident", json={"short_description": "db down", "impact": "2",
                                                       "urgency": "2"}).json()["result"]
        b = srv.post("/api/now/table/incident", json={"short_description": "vpn slow"}).json()["result"]
        # inserts are not pushed (the rule is on update)
        steps_a = [
            {"short_description": "database down"},
            {"impact": "1", "urgency": "1"},  # priority follows (a computed change is a change)
            {"assigned_to": user[0]["sys_id"], "assignment_group": group[0]["sys_id"]},
            {"short_description": "database down", "description": "primary lost"},  # one unchanged
            {"state": "2"},
            {"state": "6", "close_code": "Solved (Permanently)", "close_notes": "failed over"},
        ]
        steps_b = [{"category": "network"}, {"state": "2"}, {"work_notes": "looking"}]  # last: unwatched
        expect_a, expect_b = [], []
        for i, step in enumerate(steps_a):
            before = srv.get(f"/api/now/table/incident/{a['sys_id']}", params=PLAIN).json()["result"]
            after = patch(srv, a["sys_id"], **step)
            expect_a.append({f: after[f] for f in WATCHED if after[f] != before[f]})
            if i < len(steps_b):
                before = srv.get(f"/api/now/table/incident/{b['sys_id']}", params=PLAIN).json()["result"]
                after = patch(srv, b["sys_id"], **steps_b[i])
                changed = {f: after[f] for f in WATCHED if after[f] != before[f]}
                if changed:
                    expect_b.append(changed)
            if i == 1:
                hook.down()  # an outage of the webhook in the middle
            if i == 3:
                time.sleep(3)
                hook.up()
        assert expect_a[1].keys() == {"impact", "urgency", "priority"}, expect_a[1]
        assert expect_a[3] == {"description": "primary lost"}
        assert len(expect_b) == 2
        assert wait_for(lambda: len(hook.for_incident(a["sys_id"])) >= len(expect_a)
                        and len(hook.for_incident(b["sys_id"])) >= len(expect_b), timeout=60), hook.got
        time.sleep(1.5)
        assert hook.for_incident(a["sys_id"]) == expect_a
        assert hook.for_incident(b["sys_id"]) == expect_b
        assert hook.refused == 0
        # previous values travel too
        with hook.lock:
            first = next(g for g in hook.got if g["sys_id"] == a["sys_id"])
        assert first["changed"]["short_description"] == {"value": "database down", "previous": "db down"}
        # nothing secret in clear
        blobs = [srv.output().encode()]
        for path in glob.glob(os.path.join(srv.data, "instance.db*")):
            with open(path, "rb") as f:
                blobs.append(f.read())
        for table in ("sys_auth_profile_basic", "ecc_queue", "sys_outbound_http_log"):
            r = srv.get(f"/api/now/table/{table}", params={"sysparm_display_value": "all"})
            assert r.status_code == 200
            blobs.append(r.content)
        assert not any(HOOK_PASSWORD.encode() in b for b in blobs)
        assert not any(base64.b64encode(f"{HOOK_USER}:{HOOK_PASSWORD}".encode()) in b for b in blobs)
    finally:
        srv.stop()
