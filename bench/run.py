#!/usr/bin/python3
"""make bench: nowd side by side with its peers and the machine's limit, in one run.

Targets, all on loopback, all with the same records:
  nowd         the release build, on a generated instance of N incidents
  nginx        the same record and page bytes served as static files: what HTTP on
               this machine allows
  json-server  the JSON mock many projects use, with the same N incidents
  sqlite loop  single-row durable inserts (WAL, synchronous=FULL) from one process,
               one transaction each: the incident row nowd stored for the POST load,
               inserted again and again into a copy of the instance's own database
               (the same task table, its 30 indexes, the same 100,000 incidents) --
               the database's bound for that durable POST; and, for information, the
               same loop on a 7-column table with one index

  nowd on PostgreSQL  the same instance copied with nowctl migrate into a throw-away
               cluster (scripts/pg-cluster.sh, durable settings), served by one nowd and
               by two nowd nodes on the one database (a wrk to each, half the connections
               each), in rounds interleaved with nowd on SQLite; medians per cell

Every load is wrk, bounded in time, at 1 and 64 connections.  The table (requests/s,
p50, p99, errors, start-up time, RSS after load, and the ratios the issue sets goals
for) is printed and written to build/bench/results.md.  Goals are never asserted.

    /usr/bin/python3 bench/run.py [--incidents 100000] [--duration 5] [--quick] [--only-pg]
"""
import argparse
import base64
import json
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BIN = os.path.join(ROOT, "build", "release", "bin")
PASSWORD = "Bench-pass-1"
SAME_ROW = "nowd's incident row, into a copy of the instance"
sys.path.insert(0, HERE)
from query_times import load  # noqa: E402  the same generated incidents


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url, headers=None, timeout=60):
    """Seconds until url first answers 2xx."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        try:
            if requests.get(url, headers=headers, timeout=2).status_code < 300:
                return time.perf_counter() - t0
        except requests.RequestException:
            pass
        time.sleep(0.005)
    raise RuntimeError(f"{url} did not come up")


def rss_mib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def lua(work, name, method="GET", body=None, headers=None, paths=None, mix=None):
    """Writes a wrk script; paths cycles through request paths, mix alternates requests."""
    lines = []
    for k, v in (headers or {}).items():
        lines.append(f'wrk.headers["{k}"] = {json.dumps(v)}')
    if method != "GET":
        lines.append(f'wrk.method = "{method}"')
    if body is not None:
        lines.append(f"wrk.body = {json.dumps(body)}")
    if paths:
        lines.append("local paths = {" + ",".join(json.dumps(p) for p in paths) + "}")
        lines.append("local i = 0")
        lines.append("request = function() i = i % #paths + 1; return wrk.format(nil, paths[i]) end")
    if mix:
        get_path, post_path, post_body = mix
        lines.append("local n = 0")
        lines.append("request = function() n = n + 1\n"
                     f"  if n % 5 == 0 then return wrk.format('POST', {json.dumps(post_path)}, nil, "
                     f"{json.dumps(post_body)}) end\n"
                     f"  return wrk.format('GET', {json.dumps(get_path)}) end")
    path = os.path.join(work, name + ".lua")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def wrk(url, script, conns, duration):
    threads = 1 if conns == 1 else 2
    cmd = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{duration}s", "--latency", "--timeout", "10s", "-s",
           script, url]
    out = subprocess.run(cmd, capture_output=True, text=True).stdout

    def ms(label):
        m = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)", out, re.M)
        if not m:
            return float("nan")
        v = float(m.group(1))
        return v / 1000 if m.group(2) == "us" else v * 1000 if m.group(2) == "s" else v

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(non2xx.group(1)) if non2xx else 0) + (sum(map(int, sock.groups())) if sock else 0)
    return {"rps": float(rps.group(1)) if rps else 0.0, "p50": ms("50"), "p99": ms("99"), "errors": errors}


def timed_inserts(con, seconds, insert):
    """Calls insert(n) in its own durable transaction, as often as seconds allow."""
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        con.execute("BEGIN IMMEDIATE")
        insert(n)
        con.execute("COMMIT")
        n += 1
    return n / (time.perf_counter() - t0)


def durable(con):
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")
    return con


def sqlite_loop(work, seconds):
    """A 7-column row into a table with one index: SQLite's floor, for information."""
    con = durable(sqlite3.connect(os.path.join(work, "loop.db"), isolation_level=None))
    con.execute("CREATE TABLE t (sys_id TEXT PRIMARY KEY, number TEXT, short_description TEXT, "
                "state INTEGER, priority INTEGER, sys_created_on TEXT, sys_updated_on TEXT)")
    rps = timed_inserts(con, seconds, lambda n: con.execute(
        "INSERT INTO t VALUES (?,?,?,?,?,?,?)",
        (uuid.uuid4().hex, f"INC{n:07d}", "bench", 1, 4, "2026-01-01 00:00:00", "2026-01-01 00:00:00")))
    con.close()
    return rps


def sqlite_same_row_loop(work, instance_db, seconds):
    """The incident row nowd stored for the POST load, every column it set, inserted
    again under a new sys_id and number into a copy of the instance's database."""
    src = sqlite3.connect(instance_db)
    copy = os.path.join(work, "same-row.db")
    dst = sqlite3.connect(copy)
    src.backup(dst)
    src.close()
    dst.close()
    con = durable(sqlite3.connect(copy, isolation_level=None))
    con.execute("PRAGMA cache_size=-2048")  # what each nowd connection has
    con.row_factory = sqlite3.Row
    row = con.execute("SELECT * FROM task WHERE short_description = 'bench incident' "
                      "ORDER BY sys_created_on DESC LIMIT 1").fetchone()
    cols = [k for k in row.keys() if row[k] is not None]
    vals = [row[k] for k in cols]
    sql = (f"INSERT INTO task ({', '.join(chr(34) + c + chr(34) for c in cols)}) "
           f"VALUES ({', '.join('?' * len(cols))})")
    i_id, i_num = cols.index("sys_id"), cols.index("number")

    def insert(n):
        vals[i_id], vals[i_num] = uuid.uuid4().hex, f"LOOP{n:07d}"
        con.execute(sql, vals)

    rps = timed_inserts(con, seconds, insert)
    con.close()
    return rps, len(cols)


class Proc:
    def __init__(self, args, log, cwd=None):
        self.log = open(log, "w")
        self.p = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, cwd=cwd)

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        try:
            self.p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.p.kill()
        self.log.close()


def bench_nowd(label, bin_dir, data, work, incs, users, groups, app, args, rows, notes):
    """Loads nowd from bin_dir, serving data, with every operation at 1 and 64 connections.
    Returns the bytes of one record and one page, for nginx to serve."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    basic = "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
    sid = incs[len(incs) // 2][0]
    nowd = Proc([os.path.join(bin_dir, "nowd"), "--data", data, "--port", str(port)],
                os.path.join(work, label.replace(" ", "_") + ".log"))
    try:
        notes[f"{label} start-up"] = wait_ready(f"{base}/api/now/table/incident/{sid}", {"Authorization": basic})
        tok = requests.post(base + "/oauth_token.do", data={"grant_type": "client_credentials",
                            "client_id": app["client_id"], "client_secret": app["client_secret"]}).json()["access_token"]
        bearer = f"Bearer {tok}"
        page_q = "/api/now/table/incident?sysparm_query=active%3Dtrue%5Epriority%3C%3D2%5EORDERBYDESCsys_updated_on&sysparm_limit=100"
        record_bytes = requests.get(f"{base}/api/now/table/incident/{sid}", headers={"Authorization": basic}).content
        page_bytes = requests.get(base + page_q, headers={"Authorization": basic}).content
        sids10 = [incs[len(incs) // 3 + i][0] for i in range(10)]
        batch10 = json.dumps({"batch_request_id": "1", "rest_requests": [
            {"id": str(i), "method": "GET", "url": f"/api/now/table/incident/{s}",
             "headers": [{"name": "Accept", "value": "application/json"}]} for i, s in enumerate(sids10)]})
        post_body = json.dumps({"short_description": "bench incident", "impact": "2", "urgency": "2",
                                "caller_id": users[1], "assignment_group": groups[2]})
        ops = [
            ("GET one (Basic)", f"/api/now/table/incident/{sid}", lua(work, "get_basic", headers={"Authorization": basic})),
            ("GET one (Bearer)", f"/api/now/table/incident/{sid}", lua(work, "get_bearer", headers={"Authorization": bearer})),
            ("page of 100", page_q, lua(work, "page", headers={"Authorization": basic})),
            ("page of 100, display_value=all", page_q + "&sysparm_display_value=all",
             lua(work, "page_all", headers={"Authorization": basic})),
            ("POST incident", "/api/now/table/incident",
             lua(work, "post", "POST", post_body, {"Authorization": basic, "Content-Type": "application/json"})),
            ("PATCH incident", f"/api/now/table/incident/{sid}",
             lua(work, "patch", "PATCH", json.dumps({"urgency": "1"}),
                 {"Authorization": basic, "Content-Type": "application/json"})),
            ("token: password grant", "/oauth_token.do",
             lua(work, "tok_pw", "POST", f"grant_type=password&client_id={app['client_id']}&client_secret="
                 f"{app['client_secret']}&username=bench&password={PASSWORD}",
                 {"Content-Type": "application/x-www-form-urlencoded"})),
            ("token: client credentials", "/oauth_token.do",
             lua(work, "tok_cc", "POST", f"grant_type=client_credentials&client_id={app['client_id']}&client_secret="
                 f"{app['client_secret']}", {"Content-Type": "application/x-www-form-urlencoded"})),
            # the Batch API: ten records in one request against the same ten one by one
            ("GET one of 10 (Basic)", "/", lua(work, "get10", headers={"Authorization": basic},
                                                paths=[f"/api/now/table/incident/{s}" for s in sids10])),
            ("batch of 10 GETs", "/api/now/v1/batch",
             lua(work, "batch10", "POST", batch10, {"Authorization": basic, "Content-Type": "application/json"})),
            # Scripted REST: a script reading one record, against the Table API's GET one
            ("Scripted REST GET", f"/api/x_bench/bench/incident/{sid}",
             lua(work, "scripted", headers={"Authorization": basic})),
            ("80/20 read/write mix", "/",
             lua(work, "mix", headers={"Authorization": basic, "Content-Type": "application/json"},
                 mix=(f"/api/now/table/incident/{sid}", "/api/now/table/incident", post_body))),
        ]
        for name, path, script in ops:
            for conns in (1, 64):
                r = wrk(base + path, script, conns, args.duration)
                rows.append((label, name, conns, r))
                print(f"{label} {name} c={conns}: {r['rps']:.0f} req/s", flush=True)
        notes[f"{label} RSS after load (MiB)"] = rss_mib(nowd.p.pid)
    finally:
        nowd.stop()
    return record_bytes, page_bytes


PG_OPS = ("GET one (Basic)", "page of 100", "POST incident")
PG_TARGETS = ("nowd on SQLite", "nowd on PostgreSQL", "2 nowd nodes on PostgreSQL")
PG_ROUNDS = 3


def wrk_many(urls, script, conns, duration):
    """One wrk per url at the same time, the connections split between them (at least one
    each): the load a round-robin balancer would spread.  Rates add up; of the latencies
    the worst node's is kept."""
    from concurrent.futures import ThreadPoolExecutor
    per = [max(1, conns // len(urls))] * len(urls)
    with ThreadPoolExecutor(len(urls)) as ex:
        res = list(ex.map(lambda a: wrk(a[0], script, a[1], duration), zip(urls, per)))
    return {"rps": sum(r["rps"] for r in res), "p50": max(r["p50"] for r in res),
            "p99": max(r["p99"] for r in res), "errors": sum(r["errors"] for r in res)}


def median_row(runs):
    ranked = sorted(runs, key=lambda r: r["rps"])
    return dict(ranked[len(ranked) // 2], runs=[r["rps"] for r in runs])


def bench_pg(data, work, args, incs, post_body, rows, notes):
    """nowd on SQLite, on PostgreSQL (one node) and two nodes on one PostgreSQL database, the
    same instance (copied with nowctl migrate), GET one / page of 100 / POST incident at 1 and
    64 connections, in PG_ROUNDS interleaved rounds; the median of each cell is reported."""
    basic = "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
    sid = incs[len(incs) // 2][0]
    page_q = ("/api/now/table/incident?sysparm_query=active%3Dtrue%5Epriority%3C%3D2%5EORDERBYDESCsys_updated_on"
              "&sysparm_limit=100")
    paths = {"GET one (Basic)": (f"/api/now/table/incident/{sid}", lua(work, "pg_get", headers={"Authorization": basic})),
             "page of 100": (page_q, lua(work, "pg_page", headers={"Authorization": basic})),
             "POST incident": ("/api/now/table/incident",
                               lua(work, "pg_post", "POST", post_body,
                                   {"Authorization": basic, "Content-Type": "application/json"}))}
    cluster = os.path.join(work, "pg")
    os.makedirs(cluster)
    os.chmod(work, 0o755)  # as root, the cluster runs as postgres, which must reach it
    started = subprocess.run([os.path.join(ROOT, "scripts", "pg-cluster.sh"), "start", cluster],
                             capture_output=True, text=True, env=dict(os.environ, PG_CLUSTER_DURABLE="1"))
    if started.returncode:
        raise RuntimeError("scripts/pg-cluster.sh start failed: " + started.stderr)
    url = started.stdout.strip()
    procs = []
    try:
        t0 = time.time()
        subprocess.run([os.path.join(BIN, "nowctl"), "migrate", "--from", data, "--to", url], check=True,
                       capture_output=True)
        notes["nowctl migrate of the bench instance to PostgreSQL (s)"] = time.time() - t0
        print(f"migrated to PostgreSQL in {time.time() - t0:.1f} s", flush=True)
        with open(os.path.join(data, "keys", "instance.key"), "rb") as f:
            env = dict(os.environ, SNOWGLOBE_KEY=base64.b64encode(f.read()).decode())
        bases = {}
        for name, where in (("sqlite", ["--data", data]), ("pg1", ["--db", url]), ("pg2", ["--db", url])):
            port = free_port()
            procs.append(subprocess.Popen([os.path.join(BIN, "nowd"), *where, "--port", str(port)], env=env,
                                          stdout=open(os.path.join(work, f"bench-{name}.log"), "w"),
                                          stderr=subprocess.STDOUT, cwd=work))
            bases[name] = f"http://127.0.0.1:{port}"
            wait_ready(f"{bases[name]}/api/now/table/incident/{sid}", {"Authorization": basic})
        urls = {PG_TARGETS[0]: [bases["sqlite"]], PG_TARGETS[1]: [bases["pg1"]],
                PG_TARGETS[2]: [bases["pg1"], bases["pg2"]]}
        notes["load average at the start of the PostgreSQL rows"] = os.getloadavg()[0]
        runs = {}
        for rnd in range(PG_ROUNDS):
            for op in PG_OPS:
                for conns in (1, 64):
                    for target in PG_TARGETS:
                        if conns == 1 and len(urls[target]) > 1:
                            continue  # one connection reaches one node
                        path, script = paths[op]
                        r = wrk_many([u + path for u in urls[target]], script, conns, args.duration)
                        runs.setdefault((target, op, conns), []).append(r)
                        print(f"round {rnd + 1}: {target} {op} c={conns}: {r['rps']:.0f} req/s", flush=True)
        notes["load average at the end of the PostgreSQL rows"] = os.getloadavg()[0]
        for (target, op, conns), rs in runs.items():
            rows.append((target, op, conns, median_row(rs)))
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        subprocess.run([os.path.join(ROOT, "scripts", "pg-cluster.sh"), "stop", cluster], capture_output=True)


JOURNAL_ROUNDS = 5


def bench_journal(data, work, args, sid, rows, notes):
    """GET one (Basic) with the request journal on and off (snowglobe.journal.enabled), one nowd,
    the same run: the loads alternate off, on, off, on... and each side keeps its median, so a
    drift of the machine falls on both.  The ratio on/off is the journal's cost (issue 18 wants
    it above 0.95).  Bodies stay off, as by default."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    basic = "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
    hdr = {"Authorization": basic, "Accept": "application/json", "Content-Type": "application/json"}
    nowd = Proc([os.path.join(BIN, "nowd"), "--data", data, "--port", str(port)], os.path.join(work, "journal.log"))
    try:
        wait_ready(f"{base}/api/now/table/incident/{sid}", {"Authorization": basic})
        r = requests.post(base + "/api/now/table/sys_properties", headers=hdr,
                          json={"name": "snowglobe.journal.enabled", "value": "true", "type": "boolean"})
        r.raise_for_status()
        prop = f"{base}/api/now/table/sys_properties/{r.json()['result']['sys_id']}"
        script = lua(work, "get_journal", headers={"Authorization": basic})
        for conns in (1, 64):
            runs = {"on": [], "off": []}
            for _ in range(JOURNAL_ROUNDS):
                for state in ("off", "on"):
                    requests.patch(prop, headers=hdr, json={"value": "true" if state == "on" else "false"}
                                   ).raise_for_status()
                    runs[state].append(wrk(f"{base}/api/now/table/incident/{sid}", script, conns, args.duration))
            for state in ("off", "on"):
                ranked = sorted(runs[state], key=lambda x: x["rps"])
                med = ranked[len(ranked) // 2]
                rows.append(("nowd", f"GET one (Basic), journal {state}", conns, med))
                # the best load: the one least disturbed by whatever else the machine runs
                rows.append(("nowd", f"GET one (Basic), journal {state}, best load", conns, ranked[-1]))
                each = ", ".join("%.0f" % x["rps"] for x in runs[state])
                print(f"nowd GET one, journal {state} c={conns}: {med['rps']:.0f} req/s (runs: {each})", flush=True)
            held = requests.get(base + "/_snowglobe/requests/count", headers=hdr).json()["result"]
            print(f"journal after c={conns}: {held}", flush=True)
    finally:
        nowd.stop()


BR_RULES = [  # three active business rules on incident, of the usual kinds
    dict(name="bench: default category", when="before", action_insert="true", action_update="true",
         filter_condition="categoryISEMPTY", script="current.category = 'inquiry';"),
    dict(name="bench: urgent note", when="before", action_insert="true", order="1000",
         condition="current.priority == 1", script="current.description = 'urgent: ' + current.short_description;"),
    dict(name="bench: caller check", when="after", action_insert="true", action_update="true",
         script="var u = new GlideRecord('sys_user'); if (u.get(current.caller_id)) { u.getValue('email'); }"),
]


def bench_business_rules(data, work, args, post_body, rows):
    """POST incident with three active business rules on incident against the same POST with none,
    one nowd, the same load: the script runtime's cost per write."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    basic = "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
    hdr = {"Authorization": basic, "Content-Type": "application/json", "Accept": "application/json"}
    nowd = Proc([os.path.join(BIN, "nowd"), "--data", data, "--port", str(port)], os.path.join(work, "brules.log"))
    try:
        wait_ready(f"{base}/api/now/table/sys_script?sysparm_limit=1", {"Authorization": basic})
        script = lua(work, "post_br", "POST", post_body, {"Authorization": basic, "Content-Type": "application/json"})
        ids = []
        for n in (0, 3):
            while len(ids) < n:
                r = requests.post(base + "/api/now/table/sys_script", headers=hdr,
                                  json=dict(collection="incident", active="true", **BR_RULES[len(ids)]))
                r.raise_for_status()
                ids.append(r.json()["result"]["sys_id"])
            r = wrk(base + "/api/now/table/incident", script, 1, args.duration)
            rows.append(("nowd", f"POST incident, {n} business rules", 1, r))
            print(f"nowd POST incident with {n} business rules c=1: {r['rps']:.0f} req/s", flush=True)
        for i in ids:
            requests.delete(f"{base}/api/now/table/sys_script/{i}", headers=hdr)
    finally:
        nowd.stop()


def receiver_nginx(work):
    """A local receiver for outbound deliveries: nginx answering 204 to any request on /hook.
    Returns (Proc, url)."""
    port = free_port()
    conf = os.path.join(work, "nginx-receiver.conf")
    with open(conf, "w") as f:
        f.write(f"""worker_processes 2;
pid {work}/nginx-receiver.pid;
error_log {work}/nginx-receiver-error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {work}/nginx-receiver-tmp;
  server {{
    listen 127.0.0.1:{port};
    location /hook {{ return 204; }}
  }}
}}
""")
    os.chmod(work, 0o755)
    ng = Proc(["nginx", "-p", work, "-c", conf, "-g", "daemon off;"], os.path.join(work, "nginx-receiver.log"))
    url = f"http://127.0.0.1:{port}/hook"
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            if requests.post(url, data="x").status_code == 204:
                break
        except requests.RequestException:
            time.sleep(0.05)
    return ng, url


OUTBOUND_N = 2000
OUTBOUND_WORKERS = 2


def bench_outbound(data, work, args, post_body, rows, notes):
    """Outbound deliveries per second from the durable queue (ecc_queue) to a local receiver,
    against the receiver's own request rate under wrk at as many connections as nowd has
    delivery workers; and the added latency of a Table API write whose after business rule
    queues one request (executeAsync) against the same write without it."""
    ng, hook = receiver_nginx(work)
    try:
        r = wrk(hook, lua(work, "hook", "POST", "{\"n\":1}", {"Content-Type": "application/json"}),
                OUTBOUND_WORKERS, args.duration)
        rows.append(("receiver (nginx)", "POST /hook", OUTBOUND_WORKERS, r))
        print(f"receiver POST /hook c={OUTBOUND_WORKERS}: {r['rps']:.0f} req/s", flush=True)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        basic = "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
        hdr = {"Authorization": basic, "Content-Type": "application/json", "Accept": "application/json"}
        # queued with no delivery worker, then delivered by a nowd that has them
        nowd = Proc([os.path.join(BIN, "nowd"), "--data", data, "--port", str(port), "--delivery-workers", "0"],
                    os.path.join(work, "outbound-fill.log"))
        try:
            wait_ready(f"{base}/api/now/table/ecc_queue?sysparm_limit=1", {"Authorization": basic})
            s = requests.Session()
            for i in range(OUTBOUND_N):
                s.post(base + "/api/now/table/ecc_queue", headers=hdr, json={
                    "http_method": "POST", "endpoint": hook, "payload": json.dumps({"n": i}), "has_body": "true",
                    "order_key": f"incident/{i % 50}"}).raise_for_status()
        finally:
            nowd.stop()
        nowd = Proc([os.path.join(BIN, "nowd"), "--data", data, "--port", str(port), "--delivery-workers",
                     str(OUTBOUND_WORKERS)], os.path.join(work, "outbound-drain.log"))
        t0 = time.time()
        try:
            wait_ready(f"{base}/api/now/table/ecc_queue?sysparm_limit=1", {"Authorization": basic})
            q = {"sysparm_query": "state=processed", "sysparm_limit": "1", "sysparm_fields": "sys_id"}
            while time.time() - t0 < 300:
                n = int(requests.get(base + "/api/now/table/ecc_queue", headers=hdr, params=q)
                        .headers.get("X-Total-Count", "0"))
                if n >= OUTBOUND_N:
                    break
                time.sleep(0.05)
            secs = time.time() - t0
            notes["outbound deliveries/s (2,000 queued, 50 order keys)"] = n / secs
            print(f"outbound: {n} deliveries in {secs:.1f} s: {n / secs:.0f}/s", flush=True)
            # the added latency of a write that queues one request
            probe = requests.post(base + "/api/now/table/sys_script", headers=hdr, json=dict(
                name="bench: outbound probe", collection="incident", when="before", action_insert="true",
                active="true", script="current.description = typeof sn_ws;"))
            probe.raise_for_status()
            r = requests.post(base + "/api/now/table/incident", headers=hdr, data=post_body)
            requests.delete(f"{base}/api/now/table/sys_script/{probe.json()['result']['sys_id']}", headers=hdr)
            if r.json()["result"].get("description") != "object":
                print("outbound: sn_ws.RESTMessageV2 is not in this build; the executeAsync rows are left out",
                      flush=True)
                return
            script = lua(work, "post_outbound", "POST", post_body,
                         {"Authorization": basic, "Content-Type": "application/json"})
            rule = None
            for with_rule in (False, True):
                if with_rule:
                    rr = requests.post(base + "/api/now/table/sys_script", headers=hdr, json=dict(
                        name="bench: push", collection="incident", when="after", action_insert="true",
                        active="true", script=("var r = new sn_ws.RESTMessageV2(); r.setEndpoint('" + hook +
                                               "'); r.setHttpMethod('post'); r.setRequestBody(current.number);"
                                               " r.executeAsync();")))
                    rr.raise_for_status()
                    rule = rr.json()["result"]["sys_id"]
                r = wrk(base + "/api/now/table/incident", script, 1, args.duration)
                name = "POST incident, executeAsync rule" if with_rule else "POST incident, no outbound rule"
                rows.append(("nowd", name, 1, r))
                print(f"nowd {name} c=1: {r['rps']:.0f} req/s, p50 {r['p50']:.2f} ms", flush=True)
            requests.delete(f"{base}/api/now/table/sys_script/{rule}", headers=hdr)
        finally:
            nowd.stop()
    finally:
        ng.stop()


NOWSYNC_WORKERS = 4
NOWSYNC_N = 2000


def bench_nowsync(data, work, args, rows, notes):
    """Events per second from nowsync's intake (`nowsync serve`, POST /v1/events in batches of
    100 and one event per request) to an acknowledged incident in nowd (the outbox item done:
    the instance answered 201 and the link is committed), against nowd's own POST incident rate
    under wrk at as many connections as nowsync has delivery workers, in the same run."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    basic = "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
    nowd = Proc([os.path.join(BIN, "nowd"), "--data", data, "--port", str(port)], os.path.join(work, "ns-nowd.log"))
    procs = [nowd]
    try:
        wait_ready(f"{base}/api/now/table/incident?sysparm_limit=1", {"Authorization": basic})
        body = json.dumps({"short_description": "bench incident", "impact": "2", "urgency": "2",
                           "correlation_id": "bench:direct"})
        r = wrk(base + "/api/now/table/incident", lua(work, "ns_post", "POST", body,
                {"Authorization": basic, "Content-Type": "application/json"}), NOWSYNC_WORKERS, args.duration)
        rows.append(("nowd", "POST incident (nowsync's baseline)", NOWSYNC_WORKERS, r))
        print(f"nowd POST incident c={NOWSYNC_WORKERS}: {r['rps']:.0f} req/s", flush=True)
        ns = [os.path.join(BIN, "nowsync"), "--data", os.path.join(work, "ns")]
        e = {k: v for k, v in os.environ.items() if not k.startswith("NOWSYNC_")}
        subprocess.run(ns + ["connection", "add", "main", "--instance", base, "--user", "admin", "--auth", "basic",
                             "--no-test"], check=True, capture_output=True, env=dict(e, NOWSYNC_PASSWORD=PASSWORD))
        os.makedirs(os.path.join(work, "ns", "profiles"), exist_ok=True)
        with open(os.path.join(work, "ns", "profiles", "alerts.json"), "w") as f:
            json.dump({"table": "incident", "connection": "main",
                       "fields": {"short_description": "{{summary}}", "description": "on {{labels.instance}}"},
                       "severity": {"critical": {"impact": "1", "urgency": "1"}},
                       "correlation": {"prefix": "bench:", "key": "{{key}}"}}, f)
        tok = subprocess.run(ns + ["token", "create", "bench", "--connection", "main", "--profile", "alerts"],
                             check=True, capture_output=True, text=True, env=e).stdout.strip()
        nport = free_port()
        srv = Proc(ns + ["serve", "--port", str(nport), "--workers", str(NOWSYNC_WORKERS), "--log-level", "warn"],
                   os.path.join(work, "nowsync-serve.log"))
        procs.append(srv)
        nbase = f"http://127.0.0.1:{nport}"
        wait_ready(nbase + "/healthz")
        sess = requests.Session()
        sess.headers.update({"Authorization": "Bearer " + tok, "Content-Type": "application/json"})

        def done():
            m = re.search(r'^nowsync_outbox_items\{state="done"\} (\d+)', sess.get(nbase + "/metrics").text, re.M)
            return int(m.group(1)) if m else 0

        for label, per in (("batches of 100", 100), ("one event per request", 1)):
            start_done = done()
            evs = [{"key": f"{label[:5]}-{i}", "status": "firing", "summary": f"bench {i}", "severity": "critical",
                    "labels": {"instance": f"host{i}"}} for i in range(NOWSYNC_N)]
            t0 = time.perf_counter()
            for i in range(0, NOWSYNC_N, per):
                r = sess.post(nbase + "/v1/events", data=json.dumps(evs[i:i + per] if per > 1 else evs[i]))
                r.raise_for_status()
            accepted_s = time.perf_counter() - t0
            while done() - start_done < NOWSYNC_N and time.perf_counter() - t0 < 600:
                time.sleep(0.02)
            secs = time.perf_counter() - t0
            n = done() - start_done
            rows.append(("nowsync", f"events to incidents, {label}", NOWSYNC_WORKERS,
                         {"rps": n / secs, "p50": float("nan"), "p99": float("nan"), "errors": NOWSYNC_N - n}))
            notes[f"nowsync intake only, {label} (events/s)"] = NOWSYNC_N / accepted_s
            notes[f"nowsync end to end / nowd POST c={NOWSYNC_WORKERS}, {label}"] = (n / secs) / r_rps(rows)
            print(f"nowsync {label}: {n} events to incidents in {secs:.1f} s: {n / secs:.0f}/s "
                  f"(intake alone {NOWSYNC_N / accepted_s:.0f}/s); nowd POST {r_rps(rows):.0f}/s", flush=True)
    finally:
        for p in reversed(procs):
            p.stop()


def r_rps(rows):
    return next(r["rps"] for t, n, c, r in rows if n == "POST incident (nowsync's baseline)")


ATTACH_MB = 64


def curl_seconds(args):
    """Runs curl (its output discarded) and returns the transfer's wall time in seconds."""
    r = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{time_total}", *args],
                       check=True, capture_output=True, text=True)
    code, secs = r.stdout.split()
    assert code in ("200", "201", "204"), r.stdout
    return float(secs)


def best_mbps(times, mb):
    return mb / min(times)


def bench_attachments(data, work, args, notes):
    """Attachment upload (POST /file) and download (GET /file) of ATTACH_MB MB through nowd, and
    nginx receiving (WebDAV PUT into a file) and serving (static) the same bytes, one
    connection, with curl; best of a few runs, in MB/s."""
    blob = os.path.join(work, "attachment.bin")
    with open(blob, "wb") as f:
        for _ in range(ATTACH_MB):
            f.write(os.urandom(1024 * 1024))
    runs = 2 if args.quick else 4
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    nowd = Proc([os.path.join(BIN, "nowd"), "--data", data, "--port", str(port)], os.path.join(work, "attach.log"))
    try:
        wait_ready(base + "/api/now/table/sys_properties?sysparm_limit=1",
                   {"Authorization": "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()})
        auth = ("admin", PASSWORD)
        inc = requests.post(base + "/api/now/table/incident", json={"short_description": "attachments"},
                            auth=auth).json()["result"]["sys_id"]
        url = f"{base}/api/now/attachment/file?table_name=incident&table_sys_id={inc}&file_name=bench.bin"
        up = [curl_seconds(["-u", f"admin:{PASSWORD}", "-X", "POST", "-H", "Content-Type: application/octet-stream",
                            "-T", blob, url]) for _ in range(runs)]
        att = requests.get(base + "/api/now/attachment", params={"table_sys_id": inc, "sysparm_limit": "1"},
                           auth=auth).json()["result"][0]["sys_id"]
        down = [curl_seconds(["-u", f"admin:{PASSWORD}", f"{base}/api/now/attachment/{att}/file"])
                for _ in range(runs)]
        notes["nowd attachment upload (MB/s)"] = best_mbps(up, ATTACH_MB)
        notes["nowd attachment download (MB/s)"] = best_mbps(down, ATTACH_MB)
        notes["nowd RSS after attachments (MiB)"] = rss_mib(nowd.p.pid)
    finally:
        nowd.stop()
    www = os.path.join(work, "www-attach")
    os.makedirs(os.path.join(www, "up"))
    shutil.copy(blob, os.path.join(www, "attachment.bin"))
    nport = free_port()
    conf = os.path.join(work, "nginx-attach.conf")
    with open(conf, "w") as f:
        f.write(f"""worker_processes 2;
pid {work}/nginx-attach.pid;
error_log {work}/nginx-attach-error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {work}/nginx-attach-tmp;
  client_max_body_size 0;
  server {{
    listen 127.0.0.1:{nport};
    root {www};
    location /up/ {{ dav_methods PUT; }}
  }}
}}
""")
    for d in (work, www, os.path.join(www, "up")):
        os.chmod(d, 0o777)
    ng = Proc(["nginx", "-p", work, "-c", conf, "-g", "daemon off;"], os.path.join(work, "nginx-attach.log"))
    try:
        wait_ready(f"http://127.0.0.1:{nport}/attachment.bin")
        up = [curl_seconds(["-T", blob, f"http://127.0.0.1:{nport}/up/bench-{i}.bin"]) for i in range(runs)]
        down = [curl_seconds([f"http://127.0.0.1:{nport}/attachment.bin"]) for _ in range(runs)]
        notes["nginx receiving the same bytes (MB/s)"] = best_mbps(up, ATTACH_MB)
        notes["nginx serving the same bytes (MB/s)"] = best_mbps(down, ATTACH_MB)
    finally:
        ng.stop()
    for k in ("nowd attachment upload (MB/s)", "nowd attachment download (MB/s)",
              "nginx receiving the same bytes (MB/s)", "nginx serving the same bytes (MB/s)"):
        print(f"{k}: {notes[k]:.0f}", flush=True)


def bench_backsync(work, args, notes):
    """nowsync back-sync lag under a steady update load: a nowd of its own, a back-sync of its
    incidents (all records, polled every second, lag 1 s) to a webhook on loopback, and a
    steady stream of Table API updates; the lag of each change is the time from its update's
    answer to its arrival at the webhook (matched by sys_id and sys_mod_count)."""
    import http.server
    import threading
    data = os.path.join(work, "bs-data")
    env = dict(os.environ, NOWD_ADMIN_PASSWORD=PASSWORD)
    subprocess.run([os.path.join(BIN, "nowctl"), "init", "--data", data], check=True, env=env,
                   capture_output=True)
    port = free_port()
    nowd = Proc([os.path.join(BIN, "nowd"), "--data", data, "--port", str(port)], os.path.join(work, "bs-nowd.log"))
    url = f"http://127.0.0.1:{port}"
    ns = None
    httpd = None
    try:
        wait_ready(url + "/api/now/table/incident?sysparm_limit=1",
                   {"Authorization": "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()})
        s = requests.Session()
        s.auth = ("admin", PASSWORD)
        ids = []
        for i in range(50):
            r = s.post(url + "/api/now/table/incident", json={"short_description": f"backsync bench {i}"})
            ids.append(r.json()["result"]["sys_id"])
        arrived = {}

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                arrived.setdefault((body["sys_id"], body["sys_mod_count"]), time.time())
                self.send_response(204)
                self.end_headers()

            def log_message(self, *a):
                pass

        hport = free_port()
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", hport), H)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        nsdata = os.path.join(work, "bs-ns")
        nsenv = dict(os.environ, NOWSYNC_PASSWORD=PASSWORD)
        nsenv.pop("NOWSYNC_KEY", None)
        ns_cmd = [os.path.join(BIN, "nowsync"), "--data", nsdata]
        subprocess.run(ns_cmd + ["connection", "add", "main", "--instance", url, "--user", "admin", "--auth",
                                 "basic", "--no-test"], check=True, env=nsenv, capture_output=True)
        time.sleep(1.1)
        subprocess.run(ns_cmd + ["backsync", "add", "main", "--all-records", "--webhook",
                                 f"http://127.0.0.1:{hport}/", "--interval", "1", "--lag", "1",
                                 "--overlap", "5"], check=True, env=nsenv, capture_output=True)
        ns = Proc(ns_cmd + ["backsync", "run", "--all", "--quiet"], os.path.join(work, "bs-nowsync.log"))
        rate, seconds = 20, max(10, args.duration * 3)
        sent = {}
        t_end = time.time() + seconds
        n = 0
        while time.time() < t_end:
            sid = ids[n % len(ids)]
            r = s.patch(f"{url}/api/now/table/incident/{sid}", json={"description": f"update {n}"},
                        params={"sysparm_fields": "sys_id,sys_mod_count"})
            sent[(sid, int(r.json()["result"]["sys_mod_count"]))] = time.time()
            n += 1
            time.sleep(max(0.0, 1.0 / rate - 0.002))
        deadline = time.time() + 30
        while time.time() < deadline and not all(k in arrived for k in sent):
            time.sleep(0.2)
        # a change overtaken by a later one of the same record before a poll is not seen on
        # its own (polling sees the newest version): only delivered versions are timed
        lags = sorted(arrived[k] - t for k, t in sent.items() if k in arrived)
        latest = {}
        for (sid, mc) in sent:
            latest[sid] = max(latest.get(sid, -1), mc)
        missing = sum(1 for sid, mc in latest.items() if (sid, mc) not in arrived)
        if lags:
            notes["back-sync lag p50 (ms)"] = lags[len(lags) // 2] * 1000
            notes["back-sync lag p95 (ms)"] = lags[min(len(lags) - 1, int(len(lags) * 0.95))] * 1000
        notes["back-sync updates/s (steady load)"] = n / seconds
        notes["back-sync newest versions not delivered"] = missing
        print(f"back-sync: {n} updates at {n / seconds:.0f}/s, {len(lags)} timed; lag p50 "
              f"{notes.get('back-sync lag p50 (ms)', float('nan')):.0f} ms, p95 "
              f"{notes.get('back-sync lag p95 (ms)', float('nan')):.0f} ms; {missing} newest missing",
              flush=True)
    finally:
        if ns:
            ns.stop()
        if httpd:
            httpd.shutdown()
            httpd.server_close()
        nowd.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--incidents", type=int, default=100000)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="10,000 incidents, 2 s loads")
    ap.add_argument("--backsync-only", action="store_true", help="only nowsync's back-sync lag")
    ap.add_argument("--only-nowsync", action="store_true", help="only nowsync's row (a 1,000-incident instance)")
    ap.add_argument("--only-journal", action="store_true", help="only the request journal's on/off rows")
    ap.add_argument("--only-pg", action="store_true",
                    help="only nowd on SQLite against one and two nodes on PostgreSQL")
    ap.add_argument("--baseline", metavar="BIN_DIR",
                    help="another build's bin directory: its nowd is loaded the same way, on a copy of "
                         "the same instance, and each operation's ratio to it is reported")
    args = ap.parse_args()
    if args.quick:
        args.incidents, args.duration = 10000, 2
    if args.only_nowsync:
        args.incidents = 1000
    work = tempfile.mkdtemp(prefix="sg-bench-")
    out_dir = os.path.join(ROOT, "build", "bench")
    os.makedirs(out_dir, exist_ok=True)
    rows, notes = [], {}
    procs = []
    if args.backsync_only:
        bench_backsync(work, args, notes)
        shutil.rmtree(work, ignore_errors=True)
        return
    try:
        # ---- nowd -------------------------------------------------------------
        data = os.path.join(work, "data")
        env = dict(os.environ, NOWD_ADMIN_PASSWORD=PASSWORD)
        subprocess.run([os.path.join(BIN, "nowctl"), "init", "--data", data], check=True, env=env,
                       capture_output=True)
        t0 = time.time()
        groups, users, incs = load(os.path.join(data, "instance.db"), args.incidents)
        print(f"loaded {args.incidents} incidents in {time.time() - t0:.1f} s", flush=True)
        ctl = [os.path.join(BIN, "nowctl"), "--data", data]
        subprocess.run(ctl + ["user", "add", "bench", "--password", PASSWORD, "--role", "itil"], check=True,
                       capture_output=True)
        subprocess.run(ctl + ["property", "set", "glide.oauth.inbound.client.credential.grant_type.enabled",
                              "true"], check=True, capture_output=True)
        app = json.loads(subprocess.run(ctl + ["--json", "oauth", "add", "bench", "--grant", "client_credentials",
                                               "--user", "bench"], check=True, capture_output=True,
                                              text=True).stdout)
        sid = incs[len(incs) // 2][0]
        sids10 = [incs[len(incs) // 3 + i][0] for i in range(10)]
        batch10 = json.dumps({"batch_request_id": "1", "rest_requests": [
            {"id": str(i), "method": "GET", "url": f"/api/now/table/incident/{s}",
             "headers": [{"name": "Accept", "value": "application/json"}]} for i, s in enumerate(sids10)]})
        post_body = json.dumps({"short_description": "bench incident", "impact": "2", "urgency": "2",
                                "caller_id": users[1], "assignment_group": groups[2]})
        # A Scripted REST resource reading the same record through GlideRecord, installed as an app
        ws_app = os.path.join(work, "ws_app")
        os.makedirs(ws_app, exist_ok=True)
        with open(os.path.join(ws_app, "app.json"), "w") as f:
            json.dump({"name": "bench", "scope": "x_bench", "version": "1.0.0"}, f)
        with open(os.path.join(ws_app, "10-ws.json"), "w") as f:
            json.dump({"records": {
                "sys_ws_definition": [{"sys_id": "b0" * 16, "name": "Bench", "service_id": "bench",
                                       "namespace": "x_bench"}],
                "sys_ws_operation": [{"sys_id": "b1" * 16, "web_service_definition": "b0" * 16,
                                      "name": "incident", "http_method": "GET",
                                      "relative_path": "/incident/{sys_id}", "requires_acl_authorization": "false",
                                      "operation_script": "(function process(request, response) {\n"
                                      "  var gr = new GlideRecord('incident');\n"
                                      "  if (!gr.get(request.pathParams.sys_id)) {\n"
                                      "    response.setError(new sn_ws_err.NotFoundError('no such incident'));\n"
                                      "    return;\n  }\n"
                                      "  response.setBody({number: gr.getValue('number'),\n"
                                      "    short_description: gr.getValue('short_description'),\n"
                                      "    state: gr.getValue('state'), priority: gr.getValue('priority')});\n"
                                      "})(request, response);"}]}}, f)
        subprocess.run(ctl + ["app", "install", ws_app], check=True, capture_output=True)
        if args.only_nowsync:
            bench_nowsync(data, work, args, rows, notes)
            report = render(rows, notes, args)
            print(report)
            with open(os.path.join(out_dir, "results-nowsync.md"), "w") as f:
                f.write(report)
            return
        if args.only_pg:
            bench_pg(data, work, args, incs, post_body, rows, notes)
            report = render(rows, notes, args)
            print(report)
            with open(os.path.join(out_dir, "results-pg.md"), "w") as f:
                f.write(report)
            shutil.rmtree(work, ignore_errors=True)
            return
        if args.only_journal:
            bench_journal(data, work, args, sid, rows, notes)
            report = render(rows, notes, args)
            print(report)
            with open(os.path.join(out_dir, "results-journal.md"), "w") as f:
                f.write(report)
            return
        base_data = None
        if args.baseline:
            base_data = os.path.join(work, "data-baseline")
            shutil.copytree(data, base_data)
        record_bytes, page_bytes = bench_nowd("nowd", BIN, data, work, incs, users, groups, app, args, rows,
                                              notes)
        bench_pg(data, work, args, incs, post_body, rows, notes)
        bench_journal(data, work, args, sid, rows, notes)
        bench_business_rules(data, work, args, post_body, rows)
        bench_outbound(data, work, args, post_body, rows, notes)
        bench_attachments(data, work, args, notes)
        bench_nowsync(data, work, args, rows, notes)
        if base_data:
            bench_nowd("nowd (baseline)", args.baseline, base_data, work, incs, users, groups, app, args, rows,
                       notes)

        # ---- the database's bound for the same POST ------------------------------------
        same, ncols = sqlite_same_row_loop(work, os.path.join(data, "instance.db"), args.duration)
        rows.append(("sqlite loop", SAME_ROW, 1, {"rps": same, "p50": float("nan"),
                                                  "p99": float("nan"), "errors": 0}))
        print(f"sqlite loop, nowd's incident row ({ncols} columns) into the instance's task table: "
              f"{same:.0f} rows/s", flush=True)

        # ---- nginx: the same bytes, static ----------------------------------------
        www = os.path.join(work, "www")
        os.makedirs(www)
        with open(os.path.join(www, "record.json"), "wb") as f:
            f.write(record_bytes)
        with open(os.path.join(www, "page.json"), "wb") as f:
            f.write(page_bytes)
        nport = free_port()
        conf = os.path.join(work, "nginx.conf")
        with open(conf, "w") as f:
            f.write(f"""worker_processes 2;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {work}/nginx-tmp;
  server {{
    listen 127.0.0.1:{nport};
    root {www};
    location / {{ default_type application/json; }}
  }}
}}
""")
        os.chmod(work, 0o755)
        os.chmod(www, 0o755)
        ng = Proc(["nginx", "-p", work, "-c", conf, "-g", "daemon off;"], os.path.join(work, "nginx.log"))
        procs.append(ng)
        notes["nginx start-up"] = wait_ready(f"http://127.0.0.1:{nport}/record.json")
        plain = lua(work, "plain")
        for name, path in (("GET one (Basic)", "/record.json"), ("page of 100", "/page.json")):
            for conns in (1, 64):
                r = wrk(f"http://127.0.0.1:{nport}{path}", plain, conns, args.duration)
                rows.append(("nginx", name, conns, r))
                print(f"nginx {name} c={conns}: {r['rps']:.0f} req/s", flush=True)
        notes["nginx RSS after load (MiB)"] = rss_mib(ng.p.pid)
        ng.stop()
        procs.remove(ng)

        # ---- json-server with the same incidents ------------------------------------
        js = os.path.join(HERE, "node_modules", ".bin", "json-server")
        if os.path.exists(js):
            con = sqlite3.connect(os.path.join(data, "instance.db"))
            con.row_factory = sqlite3.Row
            cur = con.execute("SELECT * FROM task WHERE sys_class_name = 'incident'")
            db = {"incidents": [{k: ("" if r[k] is None else str(r[k])) for k in r.keys()} | {"id": r["sys_id"]}
                                for r in cur]}
            con.close()
            with open(os.path.join(work, "db.json"), "w") as f:
                json.dump(db, f)
            del db
            jport = free_port()
            jsrv = Proc([js, "--port", str(jport), "--host", "127.0.0.1", "--quiet", os.path.join(work, "db.json")],
                        os.path.join(work, "json-server.log"), cwd=work)
            procs.append(jsrv)
            notes["json-server start-up"] = wait_ready(f"http://127.0.0.1:{jport}/incidents/{sid}", timeout=120)
            jb = f"http://127.0.0.1:{jport}"
            for name, path, script in (
                    ("GET one (Basic)", f"/incidents/{sid}", plain),
                    ("page of 100", "/incidents?active=true&_sort=sys_updated_on&_order=desc&_limit=100", plain),
                    ("POST incident", "/incidents",
                     lua(work, "js_post", "POST", post_body, {"Content-Type": "application/json"}))):
                for conns in (1, 64):
                    r = wrk(jb + path, script, conns, min(args.duration, 5))
                    rows.append(("json-server", name, conns, r))
                    print(f"json-server {name} c={conns}: {r['rps']:.0f} req/s", flush=True)
            notes["json-server RSS after load (MiB)"] = rss_mib(jsrv.p.pid)
            jsrv.stop()
            procs.remove(jsrv)
        else:
            print("json-server not installed (scripts/bench-deps.sh): skipped", flush=True)

        # ---- nowsync back-sync lag under a steady update load -----------------------------
        bench_backsync(work, args, notes)

        # ---- SQLite's floor: a 7-column row, one index ---------------------------------
        loop = sqlite_loop(work, args.duration)
        rows.append(("sqlite loop", "7-column row, 1 index", 1, {"rps": loop, "p50": float("nan"),
                                                                 "p99": float("nan"), "errors": 0}))
        print(f"sqlite loop, 7-column table: {loop:.0f} rows/s", flush=True)
    finally:
        for p in procs:
            p.stop()

    report = render(rows, notes, args)
    print(report)
    with open(os.path.join(out_dir, "results.md"), "w") as f:
        f.write(report)
    shutil.rmtree(work, ignore_errors=True)


def render(rows, notes, args):
    def get(target, name, conns):
        for t, n, c, r in rows:
            if (t, n, c) == (target, name, conns):
                return r
        return None

    out = [f"# make bench — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", "",
           f"{args.incidents} incidents; wrk on loopback, {args.duration} s per load; "
           f"{os.cpu_count()} cores.", "",
           "| target | operation | conns | req/s | p50 ms | p99 ms | errors |", "|---|---|---|---|---|---|---|"]
    for t, n, c, r in rows:
        runs = " (runs: " + ", ".join("%.0f" % x for x in r["runs"]) + ")" if r.get("runs") else ""
        out.append(f"| {t} | {n} | {c} | {r['rps']:.0f}{runs} | {r['p50']:.2f} | {r['p99']:.2f} | {r['errors']} |")
    out += ["", "| measure | value |", "|---|---|"]
    for k, v in notes.items():
        out.append(f"| {k} | {v * 1000:.0f} ms |" if "start-up" in k else f"| {k} | {v:.1f} |")
    out += ["", "## Ratios against the goals", "", "| goal | ratio | met |", "|---|---|---|"]

    def ratio(label, a, b, goal):
        if a and b and b["rps"]:
            v = a["rps"] / b["rps"]
            out.append(f"| {label} ≥ {goal} | {v:.2f} | {'yes' if v >= goal else 'no'} |")

    for c in (1, 64):
        ratio(f"GET one / nginx record, c={c}", get("nowd", "GET one (Basic)", c), get("nginx", "GET one (Basic)", c), 0.5)
        ratio(f"page of 100 / nginx page, c={c}", get("nowd", "page of 100", c), get("nginx", "page of 100", c), 0.35)
        ratio(f"durable POST / sqlite loop of the same row, c={c}", get("nowd", "POST incident", c),
              get("sqlite loop", SAME_ROW, 1), 1.0)
        a, b = get("nowd", "POST incident", c), get("sqlite loop", "7-column row, 1 index", 1)
        if a and b and b["rps"]:
            out.append(f"| durable POST / sqlite loop of a 7-column row, c={c} (info) | {a['rps'] / b['rps']:.2f} | |")
        a, b = get("nowd", "batch of 10 GETs", c), get("nowd", "GET one of 10 (Basic)", c)
        if a and b and b["rps"]:
            out.append(f"| records/s: batch of 10 GETs / 10 separate GETs, c={c} (info) | "
                       f"{a['rps'] * 10 / b['rps']:.2f} | |")
        a, b = get("nowd", "Scripted REST GET", c), get("nowd", "GET one (Basic)", c)
        if a and b and b["rps"]:
            out.append(f"| Scripted REST GET / Table API GET one, c={c} (info) | {a['rps'] / b['rps']:.2f} | |")
        for name in ("GET one (Basic)", "page of 100", "POST incident"):
            a, b = get("nowd", name, c), get("json-server", name, c)
            if a and b and b["rps"]:
                out.append(f"| {name} / json-server, c={c} (info) | {a['rps'] / b['rps']:.1f} | |")
    for c in (1, 64):
        a, b = get("nowd", "GET one (Basic), journal on", c), get("nowd", "GET one (Basic), journal off", c)
        if a and b and b["rps"]:
            v = a["rps"] / b["rps"]
            out.append(f"| GET one, request journal on / off (medians), c={c} ≥ 0.95 | {v:.3f} | "
                       f"{'yes' if v >= 0.95 else 'no'} |")
        a = get("nowd", "GET one (Basic), journal on, best load", c)
        b = get("nowd", "GET one (Basic), journal off, best load", c)
        if a and b and b["rps"]:
            v = a["rps"] / b["rps"]
            out.append(f"| GET one, request journal on / off (best loads), c={c} ≥ 0.95 | {v:.3f} | "
                       f"{'yes' if v >= 0.95 else 'no'} |")
    for name in PG_OPS:
        for c in (1, 64):
            lite = get(PG_TARGETS[0], name, c)
            for target in PG_TARGETS[1:]:
                a = get(target, name, c)
                if a and lite and lite["rps"]:
                    out.append(f"| {name}: {target} / nowd on SQLite, c={c} (medians, info) | "
                               f"{a['rps'] / lite['rps']:.2f} | |")
            a, b = get(PG_TARGETS[2], name, c), get(PG_TARGETS[1], name, c)
            if a and b and b["rps"]:
                out.append(f"| {name}: 2 nodes / 1 node on PostgreSQL, c={c} (medians, info) | "
                           f"{a['rps'] / b['rps']:.2f} | |")
    a, b = get("nowd", "POST incident, 3 business rules", 1), get("nowd", "POST incident, 0 business rules", 1)
    if a and b and b["rps"]:
        out.append(f"| POST with 3 business rules / with none, c=1 (info) | {a['rps'] / b['rps']:.2f} | |")
    a, b = notes.get("outbound deliveries/s (2,000 queued, 50 order keys)"), get("receiver (nginx)", "POST /hook", 2)
    if a and b and b["rps"]:
        out.append(f"| outbound deliveries/s / receiver's own rate under wrk, c=2 (info) | {a / b['rps']:.3f} | |")
    a, b = get("nowd", "POST incident, executeAsync rule", 1), get("nowd", "POST incident, no outbound rule", 1)
    if a and b:
        out.append(f"| p50 ms added to a write that queues one request (executeAsync), c=1 (info) | "
                   f"{a['p50'] - b['p50']:.2f} | |")
    for what, a, b in (("upload", "nowd attachment upload (MB/s)", "nginx receiving the same bytes (MB/s)"),
                       ("download", "nowd attachment download (MB/s)", "nginx serving the same bytes (MB/s)")):
        if notes.get(a) and notes.get(b):
            out.append(f"| attachment {what} {ATTACH_MB} MB / nginx, MB/s (info) | {notes[a] / notes[b]:.2f} | |")
    start = notes.get("nowd start-up")
    rss = notes.get("nowd RSS after load (MiB)")
    if start is not None:
        out.append(f"| start-up ≤ 100 ms | {start * 1000:.0f} ms | {'yes' if start <= 0.1 else 'no'} |")
    if rss is not None:
        out.append(f"| RSS ≤ 64 MiB | {rss:.1f} MiB | {'yes' if rss <= 64 else 'no'} |")
    errs = sum(r["errors"] for t, n, c, r in rows if t == "nowd" and c == 64)
    out.append(f"| no errors at 64 connections | {errs} | {'yes' if errs == 0 else 'no'} |")
    base_rows = [(n, c) for t, n, c, r in rows if t == "nowd (baseline)"]
    if base_rows:
        out += ["", "## nowd against the baseline build, same run", "",
                "| operation | conns | nowd / baseline |", "|---|---|---|"]
        for n, c in base_rows:
            a, b = get("nowd", n, c), get("nowd (baseline)", n, c)
            if a and b and b["rps"]:
                out.append(f"| {n} | {c} | {a['rps'] / b['rps']:.2f} |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    main()
