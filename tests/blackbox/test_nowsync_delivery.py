"""nowsync delivery against a real nowd (a fresh one per test: they close incidents and add choices): events accepted (through `nowsync push`), mapped by a
profile checked against the instance's dictionary, delivered by `nowsync run` through the
outbox: one incident per alert, updated on change, resolved with close data, reopened within
the window or made anew after close; exactly once across nowd killed and restarted, nowsync
itself killed, 429s and lost answers injected by a stand-in proxy; validation failures
reported and never sent; dead letters listed and retried; the hourly budget."""
import http.client
import http.server
import json
import os
import signal
import socketserver
import subprocess
import threading
import time

import pytest

from conftest import BIN, PASSWORD, Server, free_port, wait_for

NOWSYNC = os.path.join(BIN, "nowsync")


def run(data, *args, stdin=None, timeout=300):
    e = dict(os.environ)
    for k in ("NOWSYNC_CLIENT_SECRET", "NOWSYNC_PASSWORD", "NOWSYNC_REFRESH_TOKEN", "NOWSYNC_KEY",
              "NOWSYNC_PROFILES"):
        e.pop(k, None)
    r = subprocess.run([NOWSYNC, "--data", str(data), *args], capture_output=True, text=True,
                       input=stdin or "", env=e, timeout=timeout)
    assert "Sanitizer" not in r.stderr and "runtime error" not in r.stderr, r.stderr
    return r


PROFILE = {
    "table": "incident",
    "connection": "main",
    "fields": {"short_description": "{{summary}}",
               "description": "Alert {{labels.alertname}} on {{labels.instance}}"},
    "defaults": {"assignment_group": "Network", "category": "network"},
    "severity": {"critical": {"impact": "1", "urgency": "1"},
                 "warning": {"impact": "2", "urgency": "2"}},
    "correlation": {"prefix": "am:", "key": "{{key}}"},
    "lifecycle": {"update_with": "work_notes", "close_code": "Solution provided",
                  "close_notes": "Cleared: {{summary}}", "reopen_window": 3600},
    "delivery": {"backoff_base_ms": 50, "backoff_max_ms": 1000, "max_attempts": 40},
}


def make_state(tmp_path, url, profiles=None, name="main"):
    tmp_path.mkdir(parents=True, exist_ok=True)
    data = tmp_path / "ns"
    r = subprocess.run([NOWSYNC, "--data", str(data), "connection", "add", name, "--instance", url,
                        "--user", "admin", "--auth", "basic", "--no-test"],
                       capture_output=True, text=True, env=dict(os.environ, NOWSYNC_PASSWORD=PASSWORD))
    assert r.returncode == 0, r.stderr
    (data / "profiles").mkdir(exist_ok=True)
    for pname, body in (profiles or {"alerts": PROFILE}).items():
        (data / "profiles" / f"{pname}.json").write_text(json.dumps(body))
    return data


def push(data, events, profile="alerts"):
    text = "".join(json.dumps(e) + "\n" for e in events)
    r = run(data, "push", "-", "--profile", profile, stdin=text)
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def ev(key, status, summary, t, severity="warning", **labels):
    return {"key": key, "status": status, "summary": summary, "severity": severity, "occurred_at": t,
            "labels": {"alertname": "HighCPU", "instance": "web1", **labels}}


def incidents(server, corr, fields="sys_id,number,state,short_description,impact,urgency,close_code,"
              "close_notes,active,assignment_group,category,description"):
    r = server.get("/api/now/table/incident", params={"sysparm_query": f"correlation_id={corr}^ORDERBYnumber",
                                                     "sysparm_fields": fields, "sysparm_limit": "10000"})
    assert r.status_code == 200, r.text
    return r.json()["result"]


def notes(server, sys_id):
    r = server.get("/api/now/table/sys_journal_field",
                   params={"sysparm_query": f"element_id={sys_id}", "sysparm_fields": "element,value"})
    return [(n["element"], n["value"]) for n in r.json()["result"]]


def outbox(data, *args):
    r = run(data, "outbox", "list", "--json", *args)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def group_id(server, name):
    return server.get("/api/now/table/sys_user_group", params={"name": name, "sysparm_fields": "sys_id"}
                      ).json()["result"][0]["sys_id"]


# ---- profiles -----------------------------------------------------------------------------


def test_profile_list_show_check(fresh, tmp_path):
    server = fresh
    bad = dict(PROFILE, defaults={"assignment_group": "No Such Group", "category": "nonsense",
                                  "u_not_a_field": "x"},
               severity={"critical": {"impact": "9", "urgency": "1"}},
               lifecycle=dict(PROFILE["lifecycle"], close_code="Fixed it"))
    data = make_state(tmp_path, server.url, {"alerts": PROFILE, "bad": bad})
    r = run(data, "profile", "list")
    assert r.stdout.split() == ["alerts", "bad"]
    shown = json.loads(run(data, "profile", "show", "alerts", "--json").stdout)
    assert shown["table"] == "incident" and shown["lifecycle"]["reopen_window"] == 3600
    assert shown["lifecycle"]["resolved_state"] == "6"  # the default: incident Resolved
    r = run(data, "profile", "check", "alerts")
    assert r.returncode == 0 and "OK" in r.stdout, r.stdout + r.stderr
    r = run(data, "profile", "check", "bad", "--json")
    assert r.returncode == 1
    out = json.loads(r.stdout)
    assert out["ok"] is False
    problems = "\n".join(out["problems"])
    assert "unknown field u_not_a_field" in problems
    assert 'category: "nonsense" is not one of its choices' in problems
    assert 'close_code: "Fixed it" is not one of its choices' in problems
    assert 'impact: "9"' in problems and "severity critical" in problems
    assert 'no group "No Such Group"' in problems
    # a malformed profile and a missing one are reported, not used
    (data / "profiles" / "broken.json").write_text('{"table": "incident", "colour": "blue"}')
    r = run(data, "profile", "show", "broken")
    assert r.returncode == 1 and 'unknown member "colour"' in r.stderr
    r = run(data, "profile", "show", "nope")
    assert r.returncode == 1 and "no profile called nope" in r.stderr
    # an event for an unknown profile or connection is refused at accept
    r = run(data, "push", "-", "--profile", "nope", stdin=json.dumps(ev("k", "firing", "s", 1)) + "\n")
    assert r.returncode == 1 and "no profile called nope" in r.stdout + r.stderr
    e = dict(ev("k", "firing", "s", 1), connection="other")
    r = run(data, "push", "-", "--profile", "alerts", stdin=json.dumps(e) + "\n")
    assert r.returncode == 1 and "no connection called other" in r.stdout + r.stderr
    assert outbox(data) == []


# ---- the lifecycle --------------------------------------------------------------------------


def test_fire_change_clear_is_one_incident_updated_then_resolved(fresh, tmp_path):
    server = fresh
    data = make_state(tmp_path, server.url)
    key = "fcc-" + str(time.time_ns())
    push(data, [ev(key, "firing", "CPU high", 1000),
                ev(key, "firing", "CPU high", 1000),           # the same event again: deduplicated
                ev(key, "firing", "CPU high", 1010),           # a repeat: no request at all
                ev(key, "firing", "CPU very high", 1020, "critical"),  # a change: one update
                ev(key, "resolved", "CPU very high", 1030, "critical")])
    r = run(data, "run")
    assert r.returncode == 0, r.stdout + r.stderr
    rows = incidents(server, "am:" + key)
    assert len(rows) == 1
    inc = rows[0]
    assert inc["state"] == "6" and inc["close_code"] == "Solution provided"
    assert inc["close_notes"] == "Cleared: CPU very high"
    assert inc["short_description"] == "CPU very high" and (inc["impact"], inc["urgency"]) == ("1", "1")
    assert inc["assignment_group"]["value"] == group_id(server, "Network")
    assert inc["category"] == "network" and inc["description"] == "Alert HighCPU on web1"
    assert notes(server, inc["sys_id"]) == [("work_notes", "Alert changed: CPU very high (severity critical)")]
    items = outbox(data)
    assert [i["action"] for i in items] == ["create", "none", "update", "resolve"]
    assert all(i["state"] == "done" and i["sys_id"] == inc["sys_id"] for i in items)


def test_reopen_within_window_and_new_after_close(fresh, tmp_path):
    server = fresh
    quick = dict(PROFILE, lifecycle=dict(PROFILE["lifecycle"], update_with="comments"))
    data = make_state(tmp_path, server.url, {"alerts": quick})
    key = "reo-" + str(time.time_ns())
    push(data, [ev(key, "firing", "disk full", 100), ev(key, "resolved", "disk full", 110),
                ev(key, "firing", "disk full again", 120)])
    assert run(data, "run").returncode == 0
    rows = incidents(server, "am:" + key)
    assert len(rows) == 1 and rows[0]["state"] == "2"  # reopened: In Progress
    assert ("comments", "Alert firing again: disk full again") in notes(server, rows[0]["sys_id"])
    # closed by someone in the instance: the next firing makes a new incident
    r = server.patch(f"/api/now/table/incident/{rows[0]['sys_id']}",
                     json={"state": "7", "close_code": "Solution provided", "close_notes": "done"})
    assert r.status_code == 200, r.text
    push(data, [ev(key, "resolved", "disk full again", 130), ev(key, "firing", "disk full once more", 140)])
    assert run(data, "run").returncode == 0
    rows = incidents(server, "am:" + key)
    assert len(rows) == 2, rows
    assert rows[0]["state"] == "7" and rows[1]["state"] == "1"
    assert rows[1]["short_description"] == "disk full once more"
    # outside the window: a new incident, the old one left resolved
    data2 = make_state(tmp_path / "b", server.url,
                  {"alerts": dict(PROFILE, lifecycle=dict(PROFILE["lifecycle"], reopen_window=0))})
    key2 = "win-" + str(time.time_ns())
    push(data2, [ev(key2, "firing", "x", 100), ev(key2, "resolved", "x", 110)])
    assert run(data2, "run").returncode == 0
    time.sleep(1.1)
    push(data2, [ev(key2, "firing", "x", 120)])
    assert run(data2, "run").returncode == 0
    rows = incidents(server, "am:" + key2)
    assert [r["state"] for r in rows] == ["6", "1"]


def test_hysteresis_suppresses_a_flap(fresh, tmp_path):
    server = fresh
    p = dict(PROFILE, lifecycle=dict(PROFILE["lifecycle"], hysteresis=3))
    data = make_state(tmp_path, server.url, {"alerts": p})
    key = "flap-" + str(time.time_ns())
    now = int(time.time())
    push(data, [ev(key, "firing", "flappy", now - 10), ev(key, "resolved", "flappy", now),
                ev(key, "firing", "flappy", now + 1)])
    r = run(data, "run", "--wait", "--timeout", "30")
    assert r.returncode == 0, r.stdout + r.stderr
    rows = incidents(server, "am:" + key)
    assert len(rows) == 1 and rows[0]["state"] == "1"  # the clear was not acted on
    assert [i["action"] for i in outbox(data)] == ["create", "none", "none"]
    # a clear that stays clear is acted on once the hysteresis has passed
    push(data, [ev(key, "resolved", "flappy", int(time.time()) + 2)])
    t0 = time.time()
    r = run(data, "run", "--wait", "--timeout", "30")
    assert r.returncode == 0 and time.time() - t0 >= 1.5
    assert incidents(server, "am:" + key)[0]["state"] == "6"


# ---- validation, dead letters, the budget -------------------------------------------------------


def test_validation_failure_reported_not_sent_then_retried(fresh, tmp_path):
    server = fresh
    bad = dict(PROFILE, defaults={"assignment_group": "Network", "category": "{{labels.category}}"})
    data = make_state(tmp_path, server.url, {"alerts": bad})
    key = "val-" + str(time.time_ns())
    push(data, [ev(key, "firing", "bad category", 100, category="nonsense"),
                ev(key + "b", "firing", "good", 100, category="network")])
    r = run(data, "run")
    assert r.returncode == 3, r.stdout + r.stderr  # dead letters exist
    assert incidents(server, "am:" + key) == []  # never sent
    assert len(incidents(server, "am:" + key + "b")) == 1
    dead = outbox(data, "--dead")
    assert len(dead) == 1 and dead[0]["key"] == key
    assert dead[0]["last_error"].startswith("validation (not sent):")
    assert 'category: "nonsense" is not one of its choices' in dead[0]["last_error"]
    r = run(data, "outbox", "list", "--state", "dead")
    assert key in r.stdout and "validation" in r.stdout
    # the instance gains the choice; the dead letter retried goes through
    r = server.post("/api/now/table/sys_choice", json={"name": "incident", "element": "category",
                                                       "value": "nonsense", "label": "Nonsense"})
    assert r.status_code == 201, r.text
    assert run(data, "outbox", "retry", "0" * 32).returncode == 1
    assert run(data, "outbox", "retry", dead[0]["id"]).returncode == 0
    # the dictionary is cached for its TTL: a profile with ttl 0 reads it again
    (data / "profiles" / "alerts.json").write_text(json.dumps(dict(bad, delivery={"dictionary_ttl": 0})))
    assert run(data, "run").returncode == 0
    rows = incidents(server, "am:" + key)
    assert len(rows) == 1 and rows[0]["category"] == "nonsense"
    assert outbox(data, "--dead") == []


def test_hourly_budget(fresh, tmp_path):
    server = fresh
    p = dict(PROFILE, defaults={"category": "network"}, delivery=dict(PROFILE["delivery"], hourly_budget=8))
    data = make_state(tmp_path, server.url, {"alerts": p})
    base = "bud-" + str(time.time_ns())
    push(data, [ev(f"{base}-{i}", "firing", "b", 100) for i in range(6)])
    r = run(data, "run", "--json")
    assert r.returncode == 4, r.stdout + r.stderr  # work left for the next hour
    counts = json.loads(r.stdout)
    # every request counts: reading the dictionary (sys_db_object for incident and what it
    # extends, sys_dictionary, sys_choice: at least 3) takes part of the 8, then creates
    done = counts["done"]
    assert 1 <= done <= 5 and counts == {"pending": 6 - done, "inflight": 0, "done": done, "dead": 0}
    made = sum(len(incidents(server, f"am:{base}-{i}", "sys_id")) for i in range(6))
    assert made == done
    pend = outbox(data, "--state", "pending")
    assert all(i["next_at"] >= (int(time.time()) // 3600 + 1) * 3600 * 1000 for i in pend)
    assert all("hourly budget" in i["last_error"] for i in pend)


# ---- exactly once ---------------------------------------------------------------------------------


class Chaos:
    """A stand-in for the instance between nowsync and nowd: every `every`-th request is
    answered 429 with Retry-After: 1 without reaching nowd, and every `lose`-th POST reaches
    nowd but its answer is lost (the connection is closed): the window where a create was
    made and nowsync cannot know."""

    def __init__(self, upstream_port, every=7, lose=5):
        self.n = self.posts = self.injected = self.lost = 0
        self.lock = threading.Lock()
        chaos = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def handle_one(self):
                try:
                    self.forward()
                except OSError:  # nowd killed under it: the client sees the connection drop
                    self.close_connection = True

            def forward(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with chaos.lock:
                    chaos.n += 1
                    n = chaos.n
                    if self.command == "POST":
                        chaos.posts += 1
                    p = chaos.posts
                if n % every == 0:
                    with chaos.lock:
                        chaos.injected += 1
                    out = json.dumps({"error": {"message": "Rate limit exceeded", "detail": "x"},
                                      "status": "failure"}).encode()
                    self.send_response(429)
                    self.send_header("Retry-After", "1")
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(out)))
                    self.end_headers()
                    self.wfile.write(out)
                    return
                c = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=60)
                hdrs = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                c.request(self.command, self.path, body=body or None, headers=hdrs)
                r = c.getresponse()
                data = r.read()
                c.close()
                if self.command == "POST" and p % lose == 0:
                    with chaos.lock:
                        chaos.lost += 1
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self.send_response(r.status)
                for k, v in r.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = handle_one

        class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True

        self.srv = S(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.srv.server_address[1]}"
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self):
        self.srv.shutdown()


def count_by_key(server, prefix):
    r = server.get("/api/now/table/incident", params={"sysparm_query": f"correlation_idSTARTSWITH{prefix}",
                                                     "sysparm_fields": "correlation_id", "sysparm_limit": "100000"})
    assert r.status_code == 200
    seen = {}
    for row in r.json()["result"]:
        seen[row["correlation_id"]] = seen.get(row["correlation_id"], 0) + 1
    return seen


def test_1000_events_nowd_and_nowsync_killed_429s_and_lost_answers(fresh, tmp_path):
    chaos = Chaos(fresh.port)
    try:
        p = dict(PROFILE, defaults={"category": "network"})
        data = make_state(tmp_path, chaos.url, {"alerts": p})
        base = "x1k-" + str(time.time_ns())
        push(data, [ev(f"{base}-{i:04d}", "firing", f"event {i}", 100) for i in range(1000)])
        e = dict(os.environ)
        e.pop("NOWSYNC_PROFILES", None)
        # nowsync killed (SIGKILL) once while delivering, nowd killed and restarted once
        proc = subprocess.Popen([NOWSYNC, "--data", str(data), "run", "--wait", "--workers", "4"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e)
        assert wait_for(lambda: len(count_by_key(fresh, "am:" + base)) >= 200, timeout=120)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc = subprocess.Popen([NOWSYNC, "--data", str(data), "run", "--wait", "--workers", "4"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e)
        assert wait_for(lambda: len(count_by_key(fresh, "am:" + base)) >= 500, timeout=120)
        fresh.kill()
        time.sleep(1)
        fresh.start()
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, out.decode() + err.decode()[-3000:]
        assert b"Sanitizer" not in err
        seen = count_by_key(fresh, "am:" + base)
        assert len(seen) == 1000 and set(seen.values()) == {1}, [k for k, v in seen.items() if v != 1][:10]
        items = outbox(data)
        assert len(items) == 1000 and {i["state"] for i in items} == {"done"}
        assert chaos.injected > 0 and chaos.lost > 0
        # lost answers were found by correlation_id, not made twice
        assert sum(1 for i in items if i["attempts"] > 1) >= chaos.lost
    finally:
        chaos.close()
