"""nowsync operations (issue 16, item 9) against a real nowd: `nowsync trace KEY` (events in,
decisions, requests out and their answers, retries, dead letters), GET /metrics on `nowsync
serve` (Prometheus text format), progress lines of `nowsync run`, JSON logs with --log-level,
and clean shutdown (SIGTERM during delivery: nothing half-done, nothing lost).  Also the
issue's "Done when" items that need other programs: a real Prometheus Alertmanager creating
and resolving an incident in nowd through nowsync, a token revoked by the instance mid-delivery,
and 1,000 events through 429s from nowd's own rate-limit rules."""
import json
import os
import re
import signal
import subprocess
import time

import pytest
import requests

from conftest import BIN, PASSWORD, free_port, nowctl, wait_for

NOWSYNC = os.path.join(BIN, "nowsync")
ENV_DROP = ("NOWSYNC_CLIENT_SECRET", "NOWSYNC_PASSWORD", "NOWSYNC_REFRESH_TOKEN", "NOWSYNC_KEY",
            "NOWSYNC_PROFILES", "NOWSYNC_DEBUG")


def env(extra=None):
    e = {k: v for k, v in os.environ.items() if k not in ENV_DROP}
    e.update(extra or {})
    return e


def run(data, *args, stdin="", extra_env=None, timeout=300):
    r = subprocess.run([NOWSYNC, "--data", str(data), *args], capture_output=True, text=True,
                       input=stdin, env=env(extra_env), timeout=timeout)
    assert "Sanitizer" not in r.stderr and "runtime error" not in r.stderr, r.stderr
    return r


PROFILE = {
    "table": "incident",
    "connection": "main",
    "fields": {"short_description": "{{summary}}", "description": "on {{labels.instance}}"},
    "severity": {"critical": {"impact": "1", "urgency": "1"}, "warning": {"impact": "2", "urgency": "2"}},
    "correlation": {"prefix": "ops:", "key": "{{key}}"},
    "lifecycle": {"close_code": "Solution provided", "close_notes": "Cleared: {{summary}}",
                  "reopen_window": 3600},
    "delivery": {"backoff_base_ms": 50, "backoff_max_ms": 1000, "max_attempts": 200},
}


def make_state(tmp_path, url, auth=None, profiles=None):
    data = tmp_path / "ns"
    if auth is None:
        r = run(data, "connection", "add", "main", "--instance", url, "--user", "admin", "--auth", "basic",
                "--no-test", extra_env={"NOWSYNC_PASSWORD": PASSWORD})
        assert r.returncode == 0, r.stderr
    (data / "profiles").mkdir(parents=True, exist_ok=True)
    for name, body in (profiles or {"alerts": PROFILE}).items():
        (data / "profiles" / f"{name}.json").write_text(json.dumps(body))
    return data


def token(data, name="t", profile="alerts"):
    r = run(data, "token", "create", name, "--connection", "main", "--profile", profile)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


class Serve:
    """`nowsync serve` on a free port, its stderr (JSON lines) in a file."""

    def __init__(self, data, *args):
        self.data = data
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.logpath = os.path.join(str(data), f"serve-{self.port}.log")
        self.log = open(self.logpath, "w")
        self.proc = subprocess.Popen([NOWSYNC, "--data", str(data), "serve", "--port", str(self.port), *args],
                                     stdout=self.log, stderr=subprocess.STDOUT, env=env())
        deadline = time.time() + 20
        while '"msg":"listening"' not in self.output():
            assert self.proc.poll() is None, self.output()
            assert time.time() < deadline, self.output()
            time.sleep(0.05)

    def output(self):
        with open(self.logpath) as f:
            return f.read()

    def lines(self):
        return [json.loads(l) for l in self.output().splitlines() if l.startswith("{")]

    def post(self, path, body, tok):
        return requests.post(self.url + path, data=json.dumps(body), timeout=60,
                             headers={"Authorization": "Bearer " + tok})

    def metrics(self):
        r = requests.get(self.url + "/metrics", timeout=30)
        assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return parse_metrics(r.text)

    def stop(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=120)
        self.log.close()
        out = self.output()
        assert "Sanitizer" not in out and "runtime error" not in out, out[-8000:]
        return code


LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """The exposition text as {(name, frozenset(labels)): value}; every line checked."""
    out, typed = {}, set()
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            name, kind = line.split()[2:4]
            assert kind in ("counter", "gauge"), line
            typed.add(name)
            continue
        m = LINE.match(line)
        assert m, f"not exposition format: {line!r}"
        assert m.group(1) in typed, f"no TYPE before {line!r}"
        labels = frozenset(LABEL.findall(m.group(3) or ""))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def metric(m, name, **labels):
    return sum(v for (n, ls), v in m.items() if n == name and set(labels.items()) <= set(ls))


def ev(key, status, summary, t, severity="warning"):
    return {"key": key, "status": status, "summary": summary, "severity": severity, "occurred_at": t,
            "labels": {"instance": "web1"}}


def incidents(server, corr):
    r = server.get("/api/now/table/incident", params={
        "sysparm_query": f"correlation_id={corr}", "sysparm_fields": "sys_id,number,state,close_code",
        "sysparm_limit": "10000"})
    assert r.status_code == 200, r.text
    return r.json()["result"]


def count_prefix(server, prefix):
    r = server.get("/api/now/table/incident", params={
        "sysparm_query": f"correlation_idSTARTSWITH{prefix}", "sysparm_fields": "correlation_id",
        "sysparm_limit": "100000"})
    assert r.status_code == 200, r.text
    corr = [x["correlation_id"] for x in r.json()["result"]]
    return len(corr), len(set(corr))


def outbox(data):
    r = run(data, "outbox", "list", "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


# ---- trace and metrics ------------------------------------------------------------------------


def test_trace_and_metrics_follow_one_alert(fresh, tmp_path):
    server = fresh
    bad = dict(PROFILE, defaults={"u_no_such_field": "x"})
    data = make_state(tmp_path, server.url, profiles={"alerts": PROFILE, "bad": bad})
    tok, badtok = token(data), token(data, "b", "bad")
    s = Serve(data, "--workers", "2")
    try:
        key = "trace-" + str(time.time_ns())
        for e in (ev(key, "firing", "CPU high", 1000), ev(key, "firing", "CPU high", 1000),
                  ev(key, "firing", "CPU very high", 1010, "critical"),
                  ev(key, "resolved", "CPU very high", 1020, "critical")):
            assert s.post("/v1/events", e, tok).status_code == 202
        assert s.post("/v1/events", {"key": "x"}, tok).status_code == 400  # refused: no status
        assert s.post("/v1/events", ev("dead-" + key, "firing", "never sent", 1), badtok).status_code == 202
        assert wait_for(lambda: all(i["state"] in ("done", "dead") for i in outbox(data)) and len(outbox(data)) == 4,
                 timeout=60)
        inc = incidents(server, "ops:" + key)
        assert len(inc) == 1 and inc[0]["state"] == "6"
        m = s.metrics()
        assert metric(m, "nowsync_events_total", source="generic", result="accepted") == 4
        assert metric(m, "nowsync_events_total", source="generic", result="duplicate") == 1
        assert metric(m, "nowsync_events_total", source="generic", result="refused") == 1
        assert metric(m, "nowsync_requests_total", connection="main", **{"class": "2xx"}) >= 3
        assert metric(m, "nowsync_dead_letters_total", connection="main") == 1
        assert metric(m, "nowsync_outbox_items", state="done") == 3
        assert metric(m, "nowsync_outbox_items", state="dead") == 1
        assert metric(m, "nowsync_outbox_items", state="pending") == 0
        assert metric(m, "nowsync_outbox_oldest_pending_seconds") == 0
        assert metric(m, "nowsync_state_up") == 1
        # /metrics takes GET only; other paths still say what is served
        assert requests.post(s.url + "/metrics", timeout=10).status_code == 405
    finally:
        assert s.stop() == 0
    # the trace: events in, decisions, requests with their answers, in time order
    r = run(data, "trace", key, "--json")
    assert r.returncode == 0, r.stderr
    t = json.loads(r.stdout)
    assert t["key"] == key and len(t["links"]) == 1
    assert t["links"][0]["state"] == "resolved" and t["links"][0]["sys_id"] == inc[0]["sys_id"]
    kinds = [e["kind"] for e in t["entries"]]
    assert kinds.count("event") == 3  # the duplicate was never stored
    times = [e["at_ms"] for e in t["entries"]]
    assert times == sorted(times)
    decisions = [e["detail"].split()[0] for e in t["entries"] if e["kind"] == "decision"]
    assert decisions == ["create", "update", "resolve"]
    reqs = [(e["method"], e["status"]) for e in t["entries"] if e["kind"] == "request"]
    assert ("POST", 201) in reqs and ("PATCH", 200) in reqs
    post = next(e for e in t["entries"] if e["kind"] == "request" and e["method"] == "POST")
    assert post["path"].startswith("/api/now/table/incident") and inc[0]["sys_id"] in post["detail"]
    assert inc[0]["number"] in post["detail"] and post["ms"] >= 0 and post["attempt"] == 1
    assert [e["detail"].split(":")[0] for e in t["entries"] if e["kind"] == "done"] == ["create", "update",
                                                                                         "resolve"]
    ev_rows = [e for e in t["entries"] if e["kind"] == "event"]
    assert [e["status"] for e in ev_rows] == ["firing", "firing", "resolved"]
    assert all(e["source"] == "generic" and e["state"] == "done" for e in ev_rows)
    text = run(data, "trace", key, "--profile", "alerts").stdout
    assert "POST /api/now/table/incident" in text and "-> 201" in text and "resolve" in text
    assert PASSWORD not in text and PASSWORD not in r.stdout
    # a dead letter: its reason in the trace
    r = run(data, "trace", "dead-" + key, "--json")
    dead = [e for e in json.loads(r.stdout)["entries"] if e["kind"] == "dead"]
    assert len(dead) == 1 and "u_no_such_field" in dead[0]["detail"]
    # nothing for an unknown key, or for the key in another profile
    assert run(data, "trace", "no-such-key").returncode == 5
    assert run(data, "trace", key, "--profile", "bad").returncode == 5
    assert run(data, "trace").returncode == 2
    # the JSON log of serve: requests at info, a dead letter at warn, never the password
    out = s.output()
    assert PASSWORD not in out
    lines = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
    assert all("time" in l and "level" in l and "msg" in l for l in lines)
    reqs = [l for l in lines if l["msg"] == "request" and l["path"] == "/v1/events"]
    assert len(reqs) == 6 and all(l["level"] == "info" and l["token"] in ("t", "b") for l in reqs)
    assert any(l["msg"] == "dead letter" and l["level"] == "warn" for l in lines)
    assert any(l["msg"] == "stopped" and l["outbox_inflight"] == 0 for l in lines)


def test_log_level_and_no_metrics(fresh, tmp_path):
    data = make_state(tmp_path, fresh.url)
    tok = token(data)
    s = Serve(data, "--log-level", "warn", "--no-metrics")
    try:
        assert s.post("/v1/events", ev("quiet", "firing", "x", 1), tok).status_code == 202
        assert requests.get(s.url + "/metrics", timeout=10).status_code == 404
        assert wait_for(lambda: outbox(data)[0]["state"] == "done", timeout=60)
    finally:
        assert s.stop() == 0
    lines = [json.loads(l) for l in s.output().splitlines() if l.startswith("{")]
    assert not [l for l in lines if l["level"] in ("info", "debug")], lines
    assert run(data, "serve", "--log-level", "loud").returncode == 2


# ---- progress and clean shutdown -----------------------------------------------------------------


def push(data, events):
    text = "".join(json.dumps(e) + "\n" for e in events)
    r = run(data, "push", "-", "--profile", "alerts", "--quiet", stdin=text)
    assert r.returncode == 0, r.stdout + r.stderr


def test_run_progress_then_sigterm_keeps_the_rest(fresh, tmp_path):
    server = fresh
    data = make_state(tmp_path, server.url)
    prefix = f"ops:run{time.time_ns()}-"
    n = 3000  # enough that the run is still going when the signal comes (300 could all be done)
    push(data, [ev(f"{prefix[4:]}{i}", "firing", f"alert {i}", 1000 + i) for i in range(n)])
    p = subprocess.Popen([NOWSYNC, "--data", str(data), "run", "--workers", "2", "--progress", "1", "--wait"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env())
    assert wait_for(lambda: count_prefix(server, prefix)[0] >= 20, timeout=60)
    time.sleep(1.2)
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=120)
    assert "Sanitizer" not in err and "runtime error" not in err, err
    lines = [json.loads(l) for l in err.splitlines() if l.startswith("{")]
    prog = [l for l in lines if l["msg"] == "progress"]
    assert prog and all({"done", "dead", "pending", "per_second", "elapsed_s"} <= set(l) for l in prog)
    assert any(l["msg"] == "stopping" and l["signal"] == "SIGTERM" for l in lines)
    end = next(l for l in lines if l["msg"] == "run ended")
    items = outbox(data)
    done = [i for i in items if i["state"] == "done"]
    assert not [i for i in items if i["state"] == "inflight"]  # each worker finished its item
    if len(done) < n:  # stopped early: the rest kept, exit 4
        assert p.returncode == 4, (out, err)
    assert end["done"] == len(done)
    assert count_prefix(server, prefix) == (len(done), len(done))  # every done item is one incident
    # the next run finishes the rest: exactly n, none twice
    r = run(data, "run", "--wait", "--progress", "0")
    assert r.returncode == 0, r.stdout + r.stderr
    assert count_prefix(server, prefix) == (n, n)


def test_serve_sigterm_during_delivery(fresh, tmp_path):
    server = fresh
    data = make_state(tmp_path, server.url)
    tok = token(data)
    prefix = f"ops:sv{time.time_ns()}-"
    n = 200
    s = Serve(data, "--workers", "2")
    batch = [ev(f"{prefix[4:]}{i}", "firing", f"alert {i}", 1000 + i) for i in range(n)]
    assert s.post("/v1/events", batch, tok).json()["accepted"] == n
    assert wait_for(lambda: count_prefix(server, prefix)[0] >= 10, timeout=60)
    assert s.stop() == 0
    stopped = next(l for l in s.lines() if l["msg"] == "stopped")
    assert stopped["outbox_inflight"] == 0 and stopped["signal"] == "SIGTERM"
    items = outbox(data)
    done = sum(i["state"] == "done" for i in items)
    assert count_prefix(server, prefix) == (done, done)
    assert stopped["outbox_pending"] == n - done
    s2 = Serve(data, "--workers", "2")
    try:
        assert wait_for(lambda: count_prefix(server, prefix)[0] >= n, timeout=120)
        assert wait_for(lambda: all(i["state"] == "done" for i in outbox(data)), timeout=30)
    finally:
        assert s2.stop() == 0
    assert count_prefix(server, prefix) == (n, n)


# ---- a real Alertmanager: an incident created, then resolved ---------------------------------------

AM_BIN = next((p for p in ("/usr/bin/prometheus-alertmanager", "/usr/bin/alertmanager") if os.path.exists(p)),
              None)


@pytest.mark.skipif(AM_BIN is None, reason="Prometheus Alertmanager is not installed "
                                           "(Debian: apt-get install prometheus-alertmanager)")
def test_real_alertmanager_creates_and_resolves_an_incident(fresh, tmp_path):
    server = fresh
    am_profile = dict(PROFILE, fields={"short_description": "{{summary}}",
                                       "description": "{{labels.alertname}} on {{labels.instance}}"},
                      correlation={"prefix": "am:", "key": "{{key}}"})
    data = make_state(tmp_path, server.url, profiles={"alerts": am_profile})
    tok = token(data)
    s = Serve(data)
    am_port = free_port()
    (tmp_path / "am.yml").write_text(f"""
route:
  receiver: nowsync
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: nowsync
    webhook_configs:
      - url: {s.url}/v1/alertmanager?key_labels=alertname,instance
        send_resolved: true
        http_config:
          authorization:
            credentials: {tok}
""")
    am = subprocess.Popen([AM_BIN, f"--config.file={tmp_path / 'am.yml'}", f"--storage.path={tmp_path / 'am'}",
                           f"--web.listen-address=127.0.0.1:{am_port}", "--cluster.listen-address="],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    inst = f"db{time.time_ns()}"
    corr = f"am:alertname=DiskFull,instance={inst}"
    try:
        api = f"http://127.0.0.1:{am_port}/api/v2/alerts"
        def ready():
            assert am.poll() is None, "alertmanager exited"
            try:
                return requests.get(f"http://127.0.0.1:{am_port}/-/ready", timeout=2).ok
            except requests.RequestException:
                return False

        assert wait_for(ready, timeout=30)
        alert = {"labels": {"alertname": "DiskFull", "instance": inst, "severity": "critical"},
                 "annotations": {"summary": f"Disk full on {inst}"}, "generatorURL": "http://prom/graph"}
        requests.post(api, json=[alert], timeout=10).raise_for_status()
        assert wait_for(lambda: len(incidents(server, corr)) == 1, timeout=60)
        inc = incidents(server, corr)[0]
        assert inc["state"] == "1"
        # the end after the start (Alertmanager set startsAt when it took the alert): a clear
        # that says it happened before the firing is rightly ignored as stale
        time.sleep(1.1)
        ended = dict(alert, endsAt=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        requests.post(api, json=[ended], timeout=10).raise_for_status()
        assert wait_for(lambda: incidents(server, corr)[0]["state"] == "6", timeout=60)
        rows = incidents(server, corr)
        assert len(rows) == 1 and rows[0]["sys_id"] == inc["sys_id"]
        assert rows[0]["close_code"] == "Solution provided", run(
            data, "trace", f"alertname=DiskFull,instance={inst}").stdout
        m = s.metrics()
        assert metric(m, "nowsync_events_total", source="alertmanager", result="accepted") >= 2
    finally:
        am.terminate()
        am.wait(timeout=30)
        assert s.stop() == 0
    t = json.loads(run(data, "trace", f"alertname=DiskFull,instance={inst}", "--json").stdout)
    assert [e["source"] for e in t["entries"] if e["kind"] == "event"][:2] == ["alertmanager"] * 2


# ---- a token expired by the instance: refreshed, no event lost -------------------------------------


def test_token_revoked_by_the_instance_mid_delivery(fresh, tmp_path):
    server = fresh
    nowctl(server, "user", "add", "ns.bot", "--password", "Bot-pass-123", "--role", "admin")
    out = json.loads(nowctl(server, "--json", "oauth", "add", "ns-app", "--grant", "password", "--scope",
                            "useraccount").stdout)
    cid, secret = out["client_id"], out["client_secret"]
    data = tmp_path / "ns"
    r = subprocess.run([NOWSYNC, "--data", str(data), "connection", "add", "main", "--instance", server.url,
                        "--client-id", cid, "--user", "ns.bot", "--secrets-stdin"],
                       input=f"client_secret={secret}\npassword=Bot-pass-123\n", capture_output=True, text=True,
                       env=env(), timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    make_state(tmp_path, server.url, auth="password")
    tok = token(data)
    prefix = f"ops:tok{time.time_ns()}-"
    s = Serve(data, "--workers", "2")
    try:
        first = [ev(f"{prefix[4:]}{i}", "firing", f"a {i}", 1000 + i) for i in range(40)]
        assert s.post("/v1/events", first, tok).json()["accepted"] == 40
        assert wait_for(lambda: count_prefix(server, prefix)[0] >= 10, timeout=60)
        before = metric(s.metrics(), "nowsync_token_refreshes_total", connection="main", result="ok")
        # the instance revokes every token of the application, mid-delivery
        nowctl(server, "token", "revoke", "--app", "ns-app")
        more = [ev(f"{prefix[4:]}{i}", "firing", f"a {i}", 1000 + i) for i in range(40, 80)]
        assert s.post("/v1/events", more, tok).json()["accepted"] == 40
        assert wait_for(lambda: count_prefix(server, prefix)[0] >= 80, timeout=120)
        assert wait_for(lambda: all(i["state"] == "done" for i in outbox(data)), timeout=30)
        m = s.metrics()
        assert metric(m, "nowsync_token_refreshes_total", connection="main", result="ok") > before
        assert metric(m, "nowsync_dead_letters_total") == 0
    finally:
        assert s.stop() == 0
    assert count_prefix(server, prefix) == (80, 80)
    out = s.output()
    assert any(l["msg"] == "token refreshed" and l["connection"] == "main" for l in s.lines())
    assert secret not in out and "Bot-pass-123" not in out


# ---- 1,000 events through 429s from nowd's own rate-limit rules ------------------------------------


def test_1000_events_through_rate_limit_429s(fresh, tmp_path):
    server = fresh
    # no Retry-After (the property real instances sometimes behave as): nowsync's own backoff
    server.set_property("snowglobe.rate_limit.omit_429_headers", "true")
    r = server.post("/api/now/table/sys_rate_limit_rules", json={
        "name": "nowsync test", "rest_api": "Table API", "http_method": "POST", "table": "incident",
        "rate": "300", "type": "all_users"})
    assert r.status_code == 201, r.text
    rule = r.json()["result"]["sys_id"]
    data = make_state(tmp_path, server.url)
    prefix = f"ops:rl{time.time_ns()}-"
    n = 1000
    push(data, [ev(f"{prefix[4:]}{i}", "firing", f"alert {i}", 1000 + i) for i in range(n)])
    p = subprocess.Popen([NOWSYNC, "--data", str(data), "run", "--workers", "4", "--wait", "--progress", "0"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env())
    try:
        assert wait_for(lambda: any(i.get("last_status") == 429 for i in outbox(data)), timeout=120)
        assert count_prefix(server, prefix)[0] <= 300
        # the rule lifted: the rest goes through
        assert server.patch(f"/api/now/table/sys_rate_limit_rules/{rule}", json={"active": "false"}
                            ).status_code == 200
        out, err = p.communicate(timeout=600)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, out + err[-4000:]
    assert count_prefix(server, prefix) == (n, n)
    items = outbox(data)
    assert len(items) == n and all(i["state"] == "done" for i in items)
    assert sum(i["attempts"] > 1 for i in items) > 0  # some were retried after a 429
    # their traces show the 429 and the retry
    retried = next(i for i in items if i["attempts"] > 1)
    t = json.loads(run(data, "trace", retried["key"], "--json").stdout)
    assert any(e["kind"] == "request" and e["status"] == 429 for e in t["entries"])
    assert any(e["kind"] == "retry" for e in t["entries"])
