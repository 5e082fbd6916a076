#!/usr/bin/python3
"""Concurrency stress under ThreadSanitizer: readers, writers, schema, property and role
changes at once against one nowd built with -fsanitize=thread.  Fails on any sanitizer
report, any 5xx answer, or an unclean exit.

    /usr/bin/python3 tests/stress/concurrency.py BINDIR [SECONDS]
"""
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import requests

BIN = sys.argv[1]
SECONDS = float(sys.argv[2]) if len(sys.argv) > 2 else 10
PASSWORD = "Stress-pass-1"


def main():
    work = tempfile.mkdtemp(prefix="sg-stress-")
    data = os.path.join(work, "data")
    env = dict(os.environ, NOWD_ADMIN_PASSWORD=PASSWORD, TSAN_OPTIONS="halt_on_error=0 exitcode=0")
    subprocess.run([os.path.join(BIN, "nowctl"), "init", "--data", data, "--demo"], check=True, env=env,
                   capture_output=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(os.path.join(work, "nowd.log"), "w+")
    proc = subprocess.Popen([os.path.join(BIN, "nowd"), "--data", data, "--port", str(port)], stdout=log,
                            stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            requests.get(base + "/api/now/table/incident", auth=("admin", PASSWORD), timeout=5)
            break
        except requests.RequestException:
            time.sleep(0.05)
    stop = time.time() + SECONDS
    failures, lock = [], threading.Lock()

    def check(r):
        if r.status_code >= 500:
            with lock:
                failures.append(f"{r.request.method} {r.url}: {r.status_code} {r.text[:200]}")

    def session(user="admin", password=PASSWORD):
        s = requests.Session()
        s.auth = (user, password)
        return s

    def reader():
        s = session()
        while time.time() < stop:
            check(s.get(base + "/api/now/table/incident",
                        params={"sysparm_limit": "5", "sysparm_display_value": random.choice(["true", "all", "false"])}))
            check(s.get(base + "/api/now/stats/incident", params={"sysparm_count": "true"}))
            check(s.get(base + "/api/now/table/task", params={"sysparm_query": "caller_id.name=Abel Tuter^ORDERBYnumber"}))

    def writer():
        s = session()
        while time.time() < stop:
            r = s.post(base + "/api/now/table/incident", json={"short_description": "stress", "comments": "c"})
            check(r)
            if r.status_code == 201:
                check(s.patch(base + "/api/now/table/incident/" + r.json()["result"]["sys_id"], json={"state": "2"}))

    def schema():
        s = session()
        i = 0
        while time.time() < stop:
            check(s.post(base + "/api/now/table/sys_dictionary",
                         json={"name": "incident", "element": f"u_stress_{i}", "internal_type": "string"}))
            check(s.post(base + "/api/now/table/sys_properties", json={"name": f"stress.p{i}", "value": "1"}))
            check(s.post(base + "/api/now/table/sys_user_has_role",
                         json={"user": "6816f79cc0a8016401c5a33be04be441", "role": "itil"}))
            i += 1
            time.sleep(0.1)

    def unauthorised():
        s = session("beth.anglin", "wrong")
        while time.time() < stop:
            check(s.get(base + "/api/now/table/incident", params={"sysparm_limit": "3"}))

    threads = [threading.Thread(target=f) for f in (reader, reader, writer, writer, schema, unauthorised)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=60)
    log.seek(0)
    out = log.read()
    log.close()
    reports = out.count("WARNING: ThreadSanitizer")
    ok = code == 0 and reports == 0 and not failures
    if not ok:
        print(out[-20000:])
        print("\n".join(failures[:20]))
    shutil.rmtree(work, ignore_errors=True)
    print(f"stress: exit {code}, {reports} sanitizer reports, {len(failures)} server errors")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
