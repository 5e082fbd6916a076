"""nowsync back-sync (issue 16, item 8) against a real nowd (a fresh one per test): the keyset
poller on (sys_updated_on, sys_id) delivers every change of a burst of 300 incidents updated
within one second, each once, and nothing is lost while rows are written during paging; a
change into a closed state is delivered as such; nowsync's own writes are not echoed back but a
person's change made with the same account is; a webhook outage loses nothing (a durable
queue, retried, with a delivery id); changes an instance pushes (a business rule's
RESTMessageV2 to POST /v1/changes on `nowsync serve`) go through the same dedup and output."""
import collections
import http.server
import json
import os
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from conftest import BIN, PASSWORD, free_port, wait_for

NOWSYNC = os.path.join(BIN, "nowsync")


def env():
    e = dict(os.environ)
    for k in ("NOWSYNC_CLIENT_SECRET", "NOWSYNC_PASSWORD", "NOWSYNC_REFRESH_TOKEN", "NOWSYNC_KEY",
              "NOWSYNC_PROFILES"):
        e.pop(k, None)
    return e


def run(data, *args, stdin=None, timeout=300):
    r = subprocess.run([NOWSYNC, "--data", str(data), *args], capture_output=True, text=True,
                       input=stdin or "", env=env(), timeout=timeout)
    assert "Sanitizer" not in r.stderr and "runtime error" not in r.stderr, r.stderr
    return r


PROFILE = {
    "table": "incident",
    "connection": "main",
    "fields": {"short_description": "{{summary}}"},
    "defaults": {"category": "network"},
    "correlation": {"prefix": "bs:", "key": "{{key}}"},
    "lifecycle": {"close_code": "Solution provided", "close_notes": "Cleared: {{summary}}"},
    "delivery": {"backoff_base_ms": 50, "backoff_max_ms": 1000, "max_attempts": 40},
}


def make_state(tmp_path, url):
    data = tmp_path / "ns"
    r = subprocess.run([NOWSYNC, "--data", str(data), "connection", "add", "main", "--instance", url,
                        "--user", "admin", "--auth", "basic", "--no-test"],
                       capture_output=True, text=True, env=dict(env(), NOWSYNC_PASSWORD=PASSWORD))
    assert r.returncode == 0, r.stderr
    (data / "profiles").mkdir(exist_ok=True)
    (data / "profiles" / "alerts.json").write_text(json.dumps(PROFILE))
    return data


def utc_now():
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())


def script(server, source):
    """Scripts - Background, offline (as the system): one transaction for the whole loop."""
    r = subprocess.run([os.path.join(BIN, "nowctl"), *server.where, "script", "run", "-"],
                       input=source, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return r.stdout


def make_incidents(server, tag, n):
    script(server, f"for (var i = 0; i < {n}; i++) {{ var gr = new GlideRecord('incident'); "
                   f"gr.initialize(); gr.short_description = '{tag}-' + i; gr.insert(); }}")
    rows = server.get("/api/now/table/incident", params={
        "sysparm_query": f"short_descriptionSTARTSWITH{tag}-", "sysparm_limit": "10000",
        "sysparm_fields": "sys_id,sys_mod_count,sys_updated_on,state"}).json()["result"]
    assert len(rows) == n
    return rows


def current(server, tag):
    return {r["sys_id"]: r for r in server.get("/api/now/table/incident", params={
        "sysparm_query": f"short_descriptionSTARTSWITH{tag}-", "sysparm_limit": "10000",
        "sysparm_fields": "sys_id,sys_mod_count,sys_updated_on,state"}).json()["result"]}


def lines(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(x) for x in f if x.strip()]


def after_lag(seconds=2.2):
    time.sleep(seconds)


# ---- the poller ----------------------------------------------------------------------------


def test_burst_of_300_in_one_second_all_delivered_once(fresh, tmp_path):
    server = fresh
    data = make_state(tmp_path, server.url)
    make_incidents(server, "burst", 300)
    time.sleep(2.1)
    out = tmp_path / "changes.ndjson"
    r = run(data, "backsync", "add", "main", "--all-records", "--filter", "short_descriptionSTARTSWITHburst-",
            "--ndjson", str(out), "--page", "50", "--lag", "1", "--overlap", "10", "--since", utc_now())
    assert r.returncode == 0, r.stderr
    # 300 updates in one second, as a bulk update on a real instance makes them (a sanitizer
    # build of nowd takes longer than a second for 300 writes, so the script stamps them with
    # the second it started in, with autoSysFields(false) after the ordinary update)
    script(server, "var t = new GlideDateTime().getValue(); var gr = new GlideRecord('incident'); "
                   "gr.addQuery('short_description', 'STARTSWITH', 'burst-'); gr.query(); "
                   "while (gr.next()) { gr.description = 'burst update'; gr.update(); "
                   "var g = new GlideRecord('incident'); g.get(gr.getUniqueValue()); "
                   "g.autoSysFields(false); g.sys_updated_on = t; g.update(); }")
    now = current(server, "burst")
    seconds = collections.Counter(r["sys_updated_on"] for r in now.values())
    assert list(seconds.values()) == [300], seconds  # one second: more than 200, many pages
    assert all(r["sys_mod_count"] == "1" for r in now.values()), collections.Counter(
        r["sys_mod_count"] for r in now.values())
    after_lag()
    r = run(data, "backsync", "run", "--once", "main")
    assert r.returncode == 0, r.stderr
    log = json.loads(r.stderr.strip().splitlines()[-1])
    assert log["queued"] == 300 and log["pages"] >= 6, log
    got = lines(out)
    assert len(got) == 300
    assert {g["sys_id"] for g in got} == set(now)
    assert all(g["sys_mod_count"] == 1 and g["type"] == "updated" and g["source"] == "poll" for g in got)
    assert len({g["delivery_id"] for g in got}) == 300
    # the next sweeps re-read the overlap window and deliver nothing again
    for _ in range(2):
        r = run(data, "backsync", "run", "--once", "main")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stderr.strip().splitlines()[-1])["duplicates"] == 300
    assert len(lines(out)) == 300
    shown = json.loads(run(data, "backsync", "list", "--json").stdout)
    assert shown[0]["watermark"] == max(seconds) and shown[0]["queue"] == {"done": 300}


def test_paging_under_concurrent_writes_loses_nothing(fresh, tmp_path):
    server = fresh
    data = make_state(tmp_path, server.url)
    rows = make_incidents(server, "churn", 80)
    ids = [r["sys_id"] for r in rows]
    time.sleep(2.1)
    out = tmp_path / "changes.ndjson"
    r = run(data, "backsync", "add", "main", "--all-records", "--filter", "short_descriptionSTARTSWITHchurn-",
            "--ndjson", str(out), "--page", "7", "--lag", "1", "--overlap", "5", "--interval", "1",
            "--since", utc_now())
    assert r.returncode == 0, r.stderr
    poller = subprocess.Popen([NOWSYNC, "--data", str(data), "backsync", "run", "main", "--quiet"],
                              stderr=subprocess.PIPE, text=True, env=env())
    stop = time.time() + 8
    s = requests.Session()
    s.auth = ("admin", PASSWORD)

    def writer(k):
        n = 0
        while time.time() < stop:
            sid = ids[(k * 17 + n * 7) % len(ids)]
            resp = s.patch(f"{server.url}/api/now/table/incident/{sid}", json={"description": f"w{k}-{n}"})
            assert resp.status_code == 200, resp.text
            n += 1
        return n

    with ThreadPoolExecutor(4) as ex:
        written = sum(ex.map(writer, range(4)))
    assert written > 40
    final = current(server, "churn")
    changed = {sid: int(r["sys_mod_count"]) for sid, r in final.items() if r["sys_mod_count"] != "0"}

    def caught_up():
        last = {}
        for g in lines(out):
            last[g["sys_id"]] = max(last.get(g["sys_id"], -1), g["sys_mod_count"])
        return last == changed

    ok = wait_for(caught_up, timeout=30)
    poller.send_signal(signal.SIGTERM)
    err = poller.communicate(timeout=30)[1]
    assert poller.returncode == 0, err
    assert "Sanitizer" not in err and "runtime error" not in err, err
    assert ok, (len(changed), len(lines(out)))
    versions = [(g["sys_id"], g["sys_mod_count"]) for g in lines(out)]
    assert len(versions) == len(set(versions))  # no version twice


def test_closed_states_own_writes_and_same_account_edits(fresh, tmp_path):
    server = fresh
    data = make_state(tmp_path, server.url)
    out = tmp_path / "changes.ndjson"
    r = run(data, "backsync", "add", "main", "--ndjson", str(out), "--lag", "1", "--overlap", "5",
            "--since", utc_now())
    assert r.returncode == 0, r.stderr
    # nowsync creates an incident (linked to its event), then resolves it: its own writes
    ev = {"key": "disk-full", "status": "firing", "summary": "Disk full", "occurred_at": 100}
    assert run(data, "push", "-", "--profile", "alerts", stdin=json.dumps(ev) + "\n").returncode == 0
    assert run(data, "run", "--wait").returncode == 0
    inc = server.get("/api/now/table/incident", params={"sysparm_query": "correlation_id=bs:disk-full",
                                                       "sysparm_fields": "sys_id,state"}).json()["result"]
    assert len(inc) == 1
    sid = inc[0]["sys_id"]
    # an incident nowsync has no link to
    other = make_incidents(server, "unlinked", 1)[0]["sys_id"]
    server.patch(f"/api/now/table/incident/{other}", json={"state": "7", "close_code": "Solution provided",
                                                          "close_notes": "x"})
    after_lag()
    r = run(data, "backsync", "run", "--once", "main")
    assert r.returncode == 0, r.stderr
    log = json.loads(r.stderr.strip().splitlines()[-1])
    assert log["echoes"] == 1 and log["queued"] == 0 and log["not_linked"] >= 1, log
    ev2 = dict(ev, status="resolved", occurred_at=200)
    assert run(data, "push", "-", "--profile", "alerts", stdin=json.dumps(ev2) + "\n").returncode == 0
    assert run(data, "run", "--wait").returncode == 0
    assert server.get(f"/api/now/table/incident/{sid}").json()["result"]["state"] == "6"
    after_lag()
    r = run(data, "backsync", "run", "--once", "main")
    log = json.loads(r.stderr.strip().splitlines()[-1])
    assert log["echoes"] == 1 and log["queued"] == 0, log
    assert lines(out) == []
    # a person, signed in with the integration's own account, reopens then closes it: both
    # delivered (their versions are not ones nowsync's writes produced)
    assert server.patch(f"/api/now/table/incident/{sid}", json={"state": "2"}).status_code == 200
    after_lag()
    run(data, "backsync", "run", "--once", "main")
    assert server.patch(f"/api/now/table/incident/{sid}", json={"state": "7"}).status_code == 200
    after_lag()
    run(data, "backsync", "run", "--once", "main")
    got = lines(out)
    assert [(g["type"], g["state"], g["closed"]) for g in got] == [("reopened", "2", False),
                                                                  ("closed", "7", True)], got
    assert all(g["sys_id"] == sid and g["key"] == "disk-full" and g["profile"] == "alerts"
               and g["sys_updated_by"] == "admin" for g in got)
    # the key's trace shows them beside its events and requests (item 9: the whole history)
    r = run(data, "trace", "disk-full", "--json")
    assert r.returncode == 0, r.stderr
    back = [e for e in json.loads(r.stdout)["entries"] if e["kind"] == "back-sync"]
    assert [(b["type"], b["record_state"], b["sys_mod_count"]) for b in back] == \
        [(g["type"], g["state"], g["sys_mod_count"]) for g in got], back
    assert all(b["delivery_id"] == g["delivery_id"] for b, g in zip(back, got))
    # closed states are configurable: with only 8 closed, 7 is an ordinary update
    run(data, "backsync", "remove", "main")
    r = run(data, "backsync", "add", "main", "--ndjson", str(tmp_path / "b.ndjson"), "--closed-states", "8",
            "--lag", "1", "--since", utc_now())
    assert r.returncode == 0, r.stderr
    server.patch(f"/api/now/table/incident/{sid}", json={"work_notes": "looked again"})
    after_lag()
    run(data, "backsync", "run", "--once", "main")
    got = lines(tmp_path / "b.ndjson")
    assert [(g["type"], g["state"], g["closed"]) for g in got] == [("updated", "7", False)], got


def test_bad_usage_is_refused(fresh, tmp_path):
    data = make_state(tmp_path, fresh.url)
    for args, words in [
        (["add", "nope", "--ndjson", "-"], "no connection nope"),
        (["add", "main"], "usage"),
        (["add", "main", "--ndjson", "-", "--webhook", "http://x"], "usage"),
        (["add", "main", "--ndjson", "-", "--filter", "active=true^ORDERBYnumber"], "bad value for --filter"),
        (["add", "main", "--ndjson", "-", "--table", "inc;drop"], "bad value for --table"),
        (["add", "main", "--webhook", "ftp://x"], "bad value for --webhook"),
        (["add", "main", "--ndjson", "-", "--since", "yesterday"], "bad value for --since"),
        (["run", "--once", "main"], "no back-sync configured"),
        (["run", "--once"], "usage"),
        (["remove", "main"], "no such back-sync"),
    ]:
        r = run(data, "backsync", *args)
        assert r.returncode != 0 and words in r.stderr, (args, r.stderr)
    assert run(data, "backsync", "add", "main", "--ndjson", "-").returncode == 0
    r = run(data, "backsync", "add", "main", "--ndjson", "-")
    assert r.returncode == 1 and "already has a back-sync" in r.stderr


def test_sweep_error_is_reported_and_the_watermark_kept(fresh, tmp_path):
    server = fresh
    data = make_state(tmp_path, server.url)
    r = run(data, "backsync", "add", "main", "--table", "no_such_table", "--all-records", "--ndjson", "-",
            "--since", "2020-01-01 00:00:00")
    assert r.returncode == 0
    r = run(data, "backsync", "run", "--once", "main")
    assert r.returncode == 1
    log = json.loads(r.stderr.strip().splitlines()[-1])
    assert log["ok"] is False and "answered 400" in log["error"] or "answered 404" in log["error"], log
    shown = json.loads(run(data, "backsync", "list", "--json").stdout)[0]
    assert shown["watermark"] == "2020-01-01 00:00:00" and shown["last_error"]


# ---- the webhook ------------------------------------------------------------------------------


class Receiver:
    """A webhook receiver that can answer 503 (down) or 200, recording what it accepted."""

    def __init__(self, port):
        self.ok = False
        self.got = []
        self.refused = 0
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if not outer.ok:
                    outer.refused += 1
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                outer.got.append((self.headers["X-Nowsync-Delivery"], json.loads(body)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), H)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_webhook_outage_loses_nothing(fresh, tmp_path):
    server = fresh
    data = make_state(tmp_path, server.url)
    rows = make_incidents(server, "hook", 30)
    time.sleep(2.1)
    port = free_port()
    r = run(data, "backsync", "add", "main", "--all-records", "--filter", "short_descriptionSTARTSWITHhook-",
            "--webhook", f"http://127.0.0.1:{port}/changes", "--lag", "1", "--interval", "1",
            "--since", utc_now())
    assert r.returncode == 0, r.stderr
    poller = subprocess.Popen([NOWSYNC, "--data", str(data), "backsync", "run", "main", "--quiet"],
                              stderr=subprocess.PIPE, text=True, env=env())
    try:
        # nothing listens: connection refused, the changes wait in the queue
        for row in rows[:15]:
            server.patch(f"/api/now/table/incident/{row['sys_id']}", json={"description": "during outage"})
        assert wait_for(lambda: json.loads(run(data, "backsync", "list", "--json").stdout)[0]["queue"]
                        .get("pending", 0) == 15, timeout=20), run(data, "backsync", "list", "--json").stdout
        rec = Receiver(port)  # up, but answering 503
        assert wait_for(lambda: rec.refused >= 2, timeout=20)
        for row in rows[15:]:
            server.patch(f"/api/now/table/incident/{row['sys_id']}", json={"description": "during 503s"})
        time.sleep(2)
        rec.ok = True
        assert wait_for(lambda: len({b["sys_id"] for _, b in rec.got}) == 30, timeout=90), len(rec.got)
    finally:
        poller.send_signal(signal.SIGTERM)
        err = poller.communicate(timeout=30)[1]
    rec.close()
    assert poller.returncode == 0 and "Sanitizer" not in err, err
    assert all(h == b["delivery_id"] for h, b in rec.got)
    assert {b["sys_id"] for _, b in rec.got} == {r["sys_id"] for r in rows}
    assert all(b["sys_mod_count"] == 1 for _, b in rec.got)
    # in order of the instance's changes: the first 15 before the rest
    first = {r["sys_id"] for r in rows[:15]}
    order = [b["sys_id"] in first for _, b in rec.got]
    assert order == sorted(order, reverse=True)
    q = json.loads(run(data, "backsync", "list", "--json").stdout)[0]["queue"]
    assert q == {"done": 30}


# ---- the push receiver -------------------------------------------------------------------------


class Serve:
    def __init__(self, data):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(os.path.join(str(data), "serve.log"), "w+")
        self.proc = subprocess.Popen([NOWSYNC, "--data", str(data), "serve", "--port", str(self.port),
                                      "--workers", "1"], stderr=self.log, env=env())
        assert wait_for(lambda: self._up(), timeout=20)

    def _up(self):
        try:
            return requests.get(self.url + "/healthz", timeout=1).status_code == 200
        except requests.ConnectionError:
            return False

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(timeout=60) == 0
        self.log.seek(0)
        out = self.log.read()
        assert "Sanitizer" not in out and "runtime error" not in out, out


def test_push_receiver_from_a_business_rule(fresh, tmp_path):
    server = fresh
    data = make_state(tmp_path, server.url)
    rows = make_incidents(server, "pushed", 3)
    time.sleep(2.1)
    out = tmp_path / "changes.ndjson"
    # a long interval: what arrives comes by push, until the sweep
    r = run(data, "backsync", "add", "main", "--all-records", "--filter", "short_descriptionSTARTSWITHpushed-",
            "--ndjson", str(out), "--interval", "3600", "--lag", "1", "--since", utc_now())
    assert r.returncode == 0, r.stderr
    tok = run(data, "token", "create", "instance", "--connection", "main").stdout.strip().split()[-1]
    assert tok.startswith("nsi_")
    other = run(data, "token", "create", "unbound").stdout.strip().split()[-1]
    srv = Serve(data)
    try:
        hook = f"{srv.url}/v1/changes"
        # refused: no token, bad body, a table with no back-sync
        assert requests.post(hook, json={}).status_code == 401
        h = {"Authorization": f"Bearer {tok}"}
        r = requests.post(hook, json={"table": "incident", "record": {"sys_id": "x"}}, headers=h)
        assert r.status_code == 400 and "changes[0].record.sys_id" in r.json()["error"]["detail"]
        r = requests.post(hook, json={"table": "problem", "record": {
            "sys_id": rows[0]["sys_id"], "sys_mod_count": "1", "sys_updated_on": utc_now()}}, headers=h)
        assert r.status_code == 400 and "no back-sync of table problem" in r.json()["error"]["detail"]
        r = requests.post(hook, json={"table": "incident", "record": {
            "sys_id": rows[0]["sys_id"], "sys_mod_count": "1", "sys_updated_on": utc_now()}},
            headers={"Authorization": f"Bearer {other}"})
        assert r.status_code == 400 and "connection: missing" in r.json()["error"]["detail"]
        assert lines(out) == []
        # the instance pushes its changes: an after-update business rule with RESTMessageV2
        rule = ("var m = new sn_ws.RESTMessageV2(); m.setEndpoint('" + hook + "'); m.setHttpMethod('post');"
                "m.setRequestHeader('Authorization', 'Bearer " + tok + "');"
                "m.setRequestHeader('Content-Type', 'application/json');"
                "m.setRequestBody(JSON.stringify({table: 'incident', record: {sys_id: current.getValue('sys_id'),"
                " sys_mod_count: current.getValue('sys_mod_count'), sys_updated_on: current.getValue("
                "'sys_updated_on'), sys_updated_by: current.getValue('sys_updated_by'), state: current."
                "getValue('state'), number: current.getValue('number')}})); m.execute();")
        r = server.post("/api/now/table/sys_script", json={
            "name": "push to nowsync", "collection": "incident", "when": "after", "action_update": "true",
            "active": "true", "order": "100", "script": rule})
        assert r.status_code == 201, r.text
        for row in rows:
            assert server.patch(f"/api/now/table/incident/{row['sys_id']}",
                                json={"state": "2"}).status_code == 200
        assert server.patch(f"/api/now/table/incident/{rows[0]['sys_id']}",
                            json={"state": "6", "close_code": "Solution provided",
                                  "close_notes": "done"}).status_code == 200
        assert wait_for(lambda: len(lines(out)) == 4, timeout=30), lines(out)
        got = lines(out)
        assert all(g["source"] == "push" for g in got)
        assert [(g["sys_id"], g["sys_mod_count"]) for g in got] == [(x["sys_id"], 1) for x in rows] + [
            (rows[0]["sys_id"], 2)]
        assert got[-1]["type"] == "closed" and got[-1]["closed"] is True
        # the same change pushed again is a duplicate
        r = requests.post(hook, json=[{"table": "incident", "record": got[-1]["record"]}], headers=h)
        assert r.status_code == 202 and r.json()["duplicates"] == 1 and r.json()["queued"] == 0
    finally:
        srv.stop()
    # the poller then sees the same versions: nothing new
    after_lag()
    r = run(data, "backsync", "run", "--once", "main")
    assert r.returncode == 0, r.stderr
    log = json.loads(r.stderr.strip().splitlines()[-1])
    assert log["queued"] == 0 and log["duplicates"] == 3, log
    assert len(lines(out)) == 4
