"""Several nowsync processes on one PostgreSQL state database (issue 19, docs/nowsync.md "Several
processes on one state database"): two `nowsync serve` share the outbox against one nowd, each
event becomes exactly one incident (none twice, none lost) with each key's events in order; a
process killed (SIGKILL) mid-work has the items it held delivered by the other once their lease
ran out.  A stand-in for the instance holds every POST back a while, so items stay in flight
long enough for a second process to start beside them (the window where a blanket reset at start
made duplicates) and for a kill to leave some in flight.  Back-sync runs a connection's table in
one process at a time: while another session holds its lock, a run skips it.

The state database is a throw-away PostgreSQL one (conftest's cluster: SG_TEST_PG_URL, else one
started for this file), a database of its own per test; nowd is on PostgreSQL as well."""
import base64
import hashlib
import http.client
import http.server
import json
import os
import signal
import socketserver
import subprocess
import threading
import time
import uuid

import pytest

from conftest import BIN, ON_PG, PASSWORD, Server, free_port, pg_cluster, wait_for
from test_nowsync_delivery import PROFILE, count_by_key, ev

NOWSYNC = os.path.join(BIN, "nowsync")
# In make blackbox-pg (SG_TEST_DB=postgresql); by hand: SG_TEST_DB=postgresql python3 -m pytest FILE
pytestmark = pytest.mark.skipif(not ON_PG, reason="a PostgreSQL state database: SG_TEST_DB=postgresql")


class SlowPosts:
    """Forwards everything to nowd, each POST after `delay` seconds (the request's body is
    forwarded even when the client has gone: a create in flight lands)."""

    def __init__(self, upstream_port, delay):
        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def forward(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.command == "POST":
                    time.sleep(delay)
                c = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=60)
                hdrs = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                c.request(self.command, self.path, body=body or None, headers=hdrs)
                r = c.getresponse()
                data = r.read()
                c.close()
                try:
                    self.send_response(r.status)
                    for k, v in r.getheaders():
                        if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                            self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client was killed meanwhile
                    self.close_connection = True

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = forward

        class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True

        self.srv = S(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.srv.server_address[1]}"
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self):
        self.srv.shutdown()


class SharedState:
    """A nowsync state database of its own on the cluster, its profiles and the processes on it."""

    def __init__(self, tmp_path, instance):
        self.dbname = "ns_" + uuid.uuid4().hex
        self.url = pg_cluster().database_url(self.dbname)
        self.profiles = tmp_path / "profiles"
        self.profiles.mkdir(parents=True)
        (self.profiles / "alerts.json").write_text(json.dumps(dict(PROFILE, defaults={"category": "network"})))
        self.env = dict(os.environ, NOWSYNC_PROFILES=str(self.profiles),
                        NOWSYNC_KEY=base64.b64encode(os.urandom(32)).decode())
        for k in ("NOWSYNC_CLIENT_SECRET", "NOWSYNC_REFRESH_TOKEN", "NOWSYNC_DATA", "NOWSYNC_DB"):
            self.env.pop(k, None)
        self.logs = tmp_path
        self.procs = []
        r = self.run("connection", "add", "main", "--instance", instance, "--user", "admin", "--auth",
                     "basic", "--no-test", env=dict(self.env, NOWSYNC_PASSWORD=PASSWORD))
        assert r.returncode == 0, r.stderr

    def run(self, *args, stdin=None, env=None):
        r = subprocess.run([NOWSYNC, "--db", self.url, *args], capture_output=True, text=True,
                           input=stdin or "", env=env or self.env, timeout=120)
        assert "Sanitizer" not in r.stderr and "runtime error" not in r.stderr, r.stderr
        return r

    def serve(self, *args):
        n = len(self.procs)
        log = open(self.logs / f"serve{n}.log", "w+")
        p = subprocess.Popen([NOWSYNC, "--db", self.url, "serve", "--port", str(free_port()), *args],
                             stdout=log, stderr=subprocess.STDOUT, env=self.env)
        p.log = log
        self.procs.append(p)
        return p

    def push(self, events):
        r = self.run("push", "-", "--profile", "alerts", "--quiet",
                     stdin="".join(json.dumps(e) + "\n" for e in events))
        assert r.returncode == 0, r.stdout + r.stderr

    def items(self, *args):
        r = self.run("outbox", "list", "--json", *args)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    def stop(self, p):
        """SIGTERM: exit 0 and no sanitizer report."""
        p.send_signal(signal.SIGTERM)
        code = p.wait(timeout=60)
        p.log.seek(0)
        out = p.log.read()
        assert code == 0, out[-4000:]
        assert "Sanitizer" not in out and "runtime error" not in out, out[-8000:]

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
            p.log.close()
        pg_cluster().drop(self.dbname)


def pid_of(owner):
    """The process id in an item's claimed_by (host:pid:random)."""
    return int(owner.split(":")[-2]) if owner else None


@pytest.fixture(scope="module")
def nowd():
    s = Server()
    yield s
    s.stop()


def test_two_processes_deliver_each_event_once_in_key_order(nowd, tmp_path):
    proxy = SlowPosts(nowd.port, 0.15)
    st = SharedState(tmp_path, proxy.url)
    try:
        base = "pgq-" + uuid.uuid4().hex[:8]
        # 150 keys; 50 of them fire then clear: 200 events, 150 incidents, 50 resolved
        events = [ev(f"{base}-{i:03d}", "firing", f"event {i}", 100) for i in range(150)]
        events += [ev(f"{base}-{i:03d}", "resolved", f"event {i}", 200) for i in range(50)]
        a = st.serve("--workers", "2", "--lease", "30")
        st.push(events)
        # the second starts while the first holds items in flight: it must leave them alone
        assert wait_for(lambda: st.items("--state", "inflight"), timeout=30)
        b = st.serve("--workers", "2", "--lease", "30")
        assert wait_for(lambda: {i["state"] for i in st.items()} == {"done"}, timeout=90), \
            [i for i in st.items() if i["state"] != "done"][:5]
        st.stop(a)
        st.stop(b)
        seen = count_by_key(nowd, "am:" + base)
        assert len(seen) == 150 and set(seen.values()) == {1}, \
            [k for k, v in seen.items() if v != 1][:10]
        r = nowd.get("/api/now/table/incident", params={
            "sysparm_query": f"correlation_idSTARTSWITHam:{base}^state=6", "sysparm_fields": "correlation_id",
            "sysparm_limit": "1000"})
        assert sorted(x["correlation_id"] for x in r.json()["result"]) == \
            [f"am:{base}-{i:03d}" for i in range(50)]  # each key's clear after its firing
        items = st.items()
        assert len(items) == 200
        by = {pid_of(i["claimed_by"]) for i in items}
        assert by == {a.pid, b.pid}  # both did some of the work
        assert sorted(i["action"] for i in items).count("create") == 150
    finally:
        st.close()
        proxy.close()


def test_killed_process_items_delivered_by_the_other_after_the_lease(nowd, tmp_path):
    proxy = SlowPosts(nowd.port, 0.5)
    st = SharedState(tmp_path, proxy.url)
    try:
        base = "pgk-" + uuid.uuid4().hex[:8]
        lease = 3
        a = st.serve("--workers", "4", "--lease", str(lease))
        b = st.serve("--workers", "2", "--lease", str(lease))
        st.push([ev(f"{base}-{i:02d}", "firing", f"event {i}", 100) for i in range(20)])

        def held_by_a():
            return {i["id"]: i for i in st.items("--state", "inflight") if pid_of(i["claimed_by"]) == a.pid}
        assert wait_for(lambda: len(held_by_a()) >= 2, timeout=30)
        a.send_signal(signal.SIGKILL)
        a.wait()
        killed_at = time.time()
        held = held_by_a()
        assert held
        # the live one leaves the dead one's items until their lease runs out (renewed every
        # third of it: two thirds left at least when it died)...
        time.sleep(0.5)
        if time.time() - killed_at < lease * 2 / 3 - 0.3:
            assert set(held_by_a()) == set(held), "taken before the lease ran out"
        # ...then takes them, looking before it creates
        assert wait_for(lambda: {i["state"] for i in st.items()} == {"done"}, timeout=60), \
            [i for i in st.items() if i["state"] != "done"][:5]
        st.stop(b)
        seen = count_by_key(nowd, "am:" + base)
        assert len(seen) == 20 and set(seen.values()) == {1}, [k for k, v in seen.items() if v != 1][:10]
        items = {i["id"]: i for i in st.items()}
        for iid in held:
            assert pid_of(items[iid]["claimed_by"]) == b.pid and items[iid]["attempts"] >= 2, items[iid]
    finally:
        st.close()
        proxy.close()


def test_restart_on_the_same_host_takes_a_dead_process_items_at_once(nowd, tmp_path):
    """A process killed and started again (another pid) need not wait out a long lease: the
    holder is of this host and pid namespace and no longer runs."""
    proxy = SlowPosts(nowd.port, 0.5)
    st = SharedState(tmp_path, proxy.url)
    try:
        base = "pgr-" + uuid.uuid4().hex[:8]
        a = st.serve("--workers", "4", "--lease", "600")
        st.push([ev(f"{base}-{i:02d}", "firing", f"event {i}", 100) for i in range(12)])
        assert wait_for(lambda: len(st.items("--state", "inflight")) >= 2, timeout=30)
        a.send_signal(signal.SIGKILL)
        a.wait()
        held = {i["id"] for i in st.items("--state", "inflight")}
        b = st.serve("--workers", "4", "--lease", "600")
        assert wait_for(lambda: {i["state"] for i in st.items()} == {"done"}, timeout=30), \
            [i for i in st.items() if i["state"] != "done"][:5]
        st.stop(b)
        seen = count_by_key(nowd, "am:" + base)
        assert len(seen) == 12 and set(seen.values()) == {1}, [k for k, v in seen.items() if v != 1][:10]
        items = {i["id"]: i for i in st.items()}
        assert held and all(pid_of(items[i]["claimed_by"]) == b.pid for i in held)
    finally:
        st.close()
        proxy.close()


def backsync_lock_key(connection, table):
    """src/nowsync/backsync.c bs_lock_key: BLAKE2b-64 of "connection\\x1ftable", low 36 bits."""
    h = hashlib.blake2b(f"{connection}\x1f{table}".encode(), digest_size=8).digest()
    return 0x4e5342000000000 + (int.from_bytes(h, "big") & 0xfffffffff)


def test_backsync_runs_in_one_process_at_a_time(nowd, tmp_path):
    st = SharedState(tmp_path, nowd.url)
    holder = None
    try:
        base = "pgb-" + uuid.uuid4().hex[:8]
        out = tmp_path / "changes.ndjson"
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(time.time() - 5))
        r = st.run("backsync", "add", "main", "--all-records", "--filter", f"short_descriptionSTARTSWITH{base}",
                   "--ndjson", str(out), "--lag", "1", "--overlap", "5", "--since", since)
        assert r.returncode == 0, r.stderr
        made = set()
        for i in range(3):
            r = nowd.post("/api/now/table/incident", json={"short_description": f"{base}-{i}"})
            assert r.status_code == 201, r.text
            made.add(r.json()["result"]["sys_id"])
        time.sleep(2.1)  # past the lag
        key = backsync_lock_key("main", "incident")
        psql = pg_cluster().psql
        holder = subprocess.Popen([psql, "-Xq", "-d", st.url, "-c", f"SELECT pg_advisory_lock({key})",
                                   "-c", "SELECT pg_sleep(120)"], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)

        def held():
            q = (f"SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND "
                 f"classid = {key >> 32} AND objid = {key & 0xffffffff} AND objsubid = 1")
            r = subprocess.run([psql, "-XAtq", "-d", st.url, "-c", q], capture_output=True, text=True)
            return r.stdout.strip() == "1"
        assert wait_for(held, timeout=20)
        r = st.run("backsync", "run", "--once", "main")
        assert r.returncode == 0, r.stderr
        assert "another process on the state database is running it" in r.stderr, r.stderr
        assert not out.exists() or out.read_text() == ""
        # the other process ends: its session, and the lock with it
        subprocess.run([psql, "-XAtq", "-d", st.url, "-c",
                        f"SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
                        f"AND classid = {key >> 32} AND objid = {key & 0xffffffff} AND objsubid = 1"],
                       capture_output=True, check=True)
        holder.wait(timeout=30)
        assert wait_for(lambda: not held(), timeout=20)
        r = st.run("backsync", "run", "--once", "main")
        assert r.returncode == 0, r.stderr
        got = [json.loads(l) for l in out.read_text().splitlines()]
        assert len(got) == 3 and {g["sys_id"] for g in got} == made, got
    finally:
        if holder and holder.poll() is None:
            holder.kill()
            holder.wait()
        st.close()
