#!/usr/bin/python3
"""Times the queries integrations send most, against nowd with 100,000 incidents.

    /usr/bin/python3 bench/query_times.py [--incidents N] [--bin build/release/bin]

Makes a fresh instance, bulk-loads N incidents straight into storage (users,
groups, states, priorities and update times spread realistically), starts
nowd, and reports the median and 95th percentile latency of each query over
one keep-alive connection.  A measurement, not a test: nothing here asserts a
time.  The full benchmark, with peers side by side, is `make bench` (issue 6).
"""
import argparse
import os
import random
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import tempfile
import time
import uuid

import requests

PASSWORD = "Bench-pass-1"


def sid():
    return uuid.uuid4().hex


def load(db, n):
    con = sqlite3.connect(db)
    cur = con.cursor()
    groups = [sid() for _ in range(20)]
    users = [sid() for _ in range(500)]
    cur.executemany('INSERT INTO sys_user_group (sys_id, name, active) VALUES (?, ?, ?)',
                    [(g, f"Group {i}", "true") for i, g in enumerate(groups)])
    cur.executemany('INSERT INTO sys_user (sys_id, user_name, name, active, sys_class_name) '
                    'VALUES (?, ?, ?, ?, ?)',
                    [(u, f"user{i}", f"User {i}", "true", "sys_user") for i, u in enumerate(users)])
    base = int(time.time()) - 365 * 86400
    rows = []
    rnd = random.Random(42)
    for i in range(n):
        state = rnd.choice([1, 1, 2, 2, 3, 6, 7, 7, 7, 8])
        impact, urgency = rnd.randint(1, 3), rnd.randint(1, 3)
        created = base + rnd.randint(0, 360 * 86400)
        updated = created + rnd.randint(0, 5 * 86400)
        fmt = lambda t: time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))
        rows.append((sid(), f"INC{10001 + i:07d}", state, "false" if state in (7, 8) else "true",
                     impact + urgency - 1, impact, urgency, f"Generated incident {i}",
                     rnd.choice(groups), rnd.choice(users), fmt(created), fmt(created), fmt(updated),
                     "incident", f"ext-{i}", 0, "admin", "admin", "global"))
    cur.executemany('INSERT INTO task (sys_id, number, state, active, priority, impact, urgency, '
                    'short_description, assignment_group, caller_id, opened_at, sys_created_on, '
                    'sys_updated_on, sys_class_name, correlation_id, sys_mod_count, sys_created_by, '
                    'sys_updated_by, sys_domain) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)', rows)
    con.commit()
    con.close()
    return groups, users, rows


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--incidents", type=int, default=100000)
    ap.add_argument("--bin", default=os.path.join(os.path.dirname(__file__), "../build/release/bin"))
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="sg-bench-")
    data = os.path.join(work, "data")
    env = dict(os.environ, NOWD_ADMIN_PASSWORD=PASSWORD)
    subprocess.run([os.path.join(args.bin, "nowctl"), "init", "--data", data], check=True, env=env,
                   capture_output=True)
    t0 = time.time()
    groups, users, rows = load(os.path.join(data, "instance.db"), args.incidents)
    print(f"loaded {args.incidents} incidents in {time.time() - t0:.1f} s")
    port = free_port()
    proc = subprocess.Popen([os.path.join(args.bin, "nowd"), "--data", data, "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        s = requests.Session()
        s.auth = ("admin", PASSWORD)
        url = f"http://127.0.0.1:{port}/api/now/table/incident"
        for _ in range(100):
            try:
                s.get(url, params={"sysparm_limit": "1"})
                break
            except requests.ConnectionError:
                time.sleep(0.05)
        recent = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(time.time() - 30 * 86400))
        mid = rows[len(rows) // 2]
        ids = ",".join(r[0] for r in rows[1000:1005])
        cases = [
            ("GET one by sys_id", url + "/" + mid[0], {}),
            ("number=", url, {"sysparm_query": f"number={mid[1]}"}),
            ("correlation_id=", url, {"sysparm_query": f"correlation_id={mid[14]}"}),
            ("sys_id IN (5)", url, {"sysparm_query": f"sys_idIN{ids}"}),
            ("poll: sys_updated_on>30d ago, ORDERBY, 100", url,
             {"sysparm_query": f"sys_updated_on>{recent}^ORDERBYsys_updated_on", "sysparm_limit": "100"}),
            ("poll with javascript:gs.daysAgoStart(30)", url,
             {"sysparm_query": "sys_updated_on>javascript:gs.daysAgoStart(30)^ORDERBYsys_updated_on",
              "sysparm_limit": "100"}),
            ("active=true^assignment_group=, 100", url,
             {"sysparm_query": f"active=true^assignment_group={groups[3]}", "sysparm_limit": "100"}),
            ("active=true^priority<=2^ORDERBYDESCsys_updated_on, 100", url,
             {"sysparm_query": "active=true^priority<=2^ORDERBYDESCsys_updated_on", "sysparm_limit": "100"}),
            ("caller_id=", url, {"sysparm_query": f"caller_id={users[7]}"}),
            ("PySNC page: ORDERBYsys_id, display_value=all, 100", url,
             {"sysparm_query": "active=true^ORDERBYsys_id", "sysparm_limit": "100",
              "sysparm_display_value": "all", "sysparm_exclude_reference_link": "true",
              "sysparm_suppress_pagination_header": "true"}),
            ("stats: count by state", f"http://127.0.0.1:{port}/api/now/stats/incident",
             {"sysparm_count": "true", "sysparm_group_by": "state"}),
        ]
        print(f"{'query':58} {'median ms':>10} {'p95 ms':>8} {'rows':>6}")
        for name, u, params in cases:
            times = []
            for _ in range(args.repeat):
                t = time.perf_counter()
                r = s.get(u, params=params)
                times.append((time.perf_counter() - t) * 1000)
                assert r.status_code == 200, (name, r.status_code, r.text[:200])
            res = r.json()["result"]
            n = len(res) if isinstance(res, list) else 1
            times.sort()
            print(f"{name:58} {statistics.median(times):10.2f} {times[int(len(times) * 0.95) - 1]:8.2f} {n:6}")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
