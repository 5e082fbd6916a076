#!/usr/bin/python3
"""Runs the black-box suite: one pytest process per test file, JOBS at a time.

Each file's tests start their own nowd (the session server too), so files are
independent and can run side by side.  The files known to be slow start first,
so that the last ones to finish are short.  A file's output is printed when it
ends (all of it when it failed, its summary line otherwise), then one closing
line for CI: "blackbox: N passed, N failed, N skipped".

Usage: run-blackbox.py [-j JOBS] [FILE...]   (default: every tests/blackbox/test_*.py;
JOBS defaults to SG_BLACKBOX_JOBS, else 2).  Extra pytest options go in PYTEST_ADDOPTS.
With SG_TEST_DB=postgresql every nowd runs on PostgreSQL: one throw-away cluster
(scripts/pg-cluster.sh) is started for the whole run and named to the files in
SG_TEST_PG_URL; each nowd gets a database of its own in it (tests/blackbox/conftest.py).
"""
import concurrent.futures
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

# Files whose tests wait on purpose (outages, SIGKILL and restart, schedules):
# started first.  Order only; a file missing here is simply started later.
SLOW_FIRST = [
    "test_scenario_rmm_outbound.py",
    "test_scenario_incident_push.py",
    "test_outbound_queue.py",
    "test_nowsync_delivery.py",
    "test_nowsync_backsync.py",
    "test_nowsync_ops.py",
    "test_scheduled_jobs.py",
    "test_jobs.py",
    "test_events.py",
    "test_script_run.py",
    "test_http_hardening.py",
    "test_lockout.py",
]

COUNT = re.compile(r"(\d+) (passed|failed|skipped|xfailed|xpassed|errors?|deselected)")


def run(path):
    start = time.time()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", path],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return path, proc.returncode, proc.stdout, time.time() - start


def order(files):
    rank = {name: i for i, name in enumerate(SLOW_FIRST)}
    return sorted(files, key=lambda f: (rank.get(os.path.basename(f), len(rank)), f))


def pg_cluster():
    """Starts the run's PostgreSQL cluster; returns a function that stops and removes it."""
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pg-cluster.sh")
    where = tempfile.mkdtemp(prefix="sg-bb-pg-")
    os.chmod(where, 0o755)  # as root the server runs as postgres, which must enter it
    r = subprocess.run(["sh", script, "start", where], capture_output=True, text=True)
    if r.returncode != 0:
        shutil.rmtree(where, ignore_errors=True)
        sys.exit("blackbox: no PostgreSQL cluster: " + r.stderr)
    os.environ["SG_TEST_PG_URL"] = r.stdout.strip()

    def stop():
        subprocess.run(["sh", script, "stop", where], capture_output=True)
        shutil.rmtree(where, ignore_errors=True)
    return stop


def main(argv):
    stop = None
    if os.environ.get("SG_TEST_DB") == "postgresql" and not os.environ.get("SG_TEST_PG_URL"):
        stop = pg_cluster()
    try:
        return run_all(argv)
    finally:
        if stop:
            stop()


def run_all(argv):
    jobs = int(os.environ.get("SG_BLACKBOX_JOBS", "2"))
    if len(argv) >= 2 and argv[0] == "-j":
        jobs, argv = int(argv[1]), argv[2:]
    files = argv or glob.glob(os.path.join(os.path.dirname(__file__), "..", "tests", "blackbox",
                                           "test_*.py"))
    totals = {"passed": 0, "failed": 0, "skipped": 0, "xfailed": 0, "xpassed": 0, "error": 0}
    bad = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [pool.submit(run, f) for f in order(files)]
        for done in concurrent.futures.as_completed(futures):
            path, code, out, secs = done.result()
            name = os.path.relpath(path)
            lines = out.rstrip().splitlines()
            summary = lines[-1] if lines else "(no output)"
            counts = {}
            for n, kind in COUNT.findall(summary):
                kind = "error" if kind.startswith("error") else kind
                counts[kind] = counts.get(kind, 0) + int(n)
            for kind, n in counts.items():
                if kind in totals:
                    totals[kind] += n
            # pytest exits 5 when a file collected nothing: a file that ran no test is a failure
            if code != 0 or not counts:
                bad.append(name)
                print(out, flush=True)
            print(f"{name}: {summary} ({secs:.0f} s)", flush=True)
    failed = totals["failed"] + totals["error"]
    if bad:
        print("files that failed: " + " ".join(bad))
    if bad and not failed:
        failed = len(bad)
    print(f"expected failures (strict xfail): {totals['xfailed']}, unexpected passes: {totals['xpassed']}")
    print(f"blackbox: {totals['passed']} passed, {failed} failed, {totals['skipped']} skipped")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
