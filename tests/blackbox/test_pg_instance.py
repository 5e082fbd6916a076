"""An instance on PostgreSQL from init to reset (issue 19): `nowctl init --db postgresql://...`
with the demo data and the instance key outside the database, nowd serving it, snapshots
kept in the database (save, change, restore, reset, a schema change undone, restores under
concurrent reads and writes), a second node given a copy of the key, a node without the key
refused, --ephemeral refused, and no output of nowd, nowctl or nowsync holding the URL's
password.

The cluster is a throw-away one (scripts/pg-cluster.sh: a socket, trust authentication); the
instance's role is given a password all the same, so that the URL carries one as an admin's
would.  Skipped only when no PostgreSQL server programs (initdb) are installed.
"""
import glob
import os
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time

import pytest
import requests

from conftest import BIN, free_port

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
SECRET = "Pg-s3cret-pw"
ADMIN_PW = "Snowglobe-pg-1"


def pg_bindir():
    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin")):
        if os.path.exists(os.path.join(d, "initdb")):
            return d
    found = shutil.which("initdb")
    return os.path.dirname(found) if found else None


BINDIR = pg_bindir()
pytestmark = pytest.mark.skipif(BINDIR is None, reason="no initdb: install Debian's postgresql package")

OUTPUTS = []  # every text nowd, nowctl and nowsync printed, checked for the password at the end


def run(args, env, ok=True, stdin=None):
    r = subprocess.run(args, capture_output=True, text=True, env=env, input=stdin, timeout=120)
    OUTPUTS.append(" ".join(args[:2]) + ":\n" + r.stdout + r.stderr)
    if ok:
        assert r.returncode == 0, (args[:3], r.stdout, r.stderr)
    return r


class Node:
    """A nowd serving the instance; its log is kept for the password check."""

    def __init__(self, url, env, extra=()):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        fd, self.logpath = tempfile.mkstemp(prefix="sg-pg-nowd-", suffix=".log")
        os.close(fd)
        self.log = open(self.logpath, "a+")
        self.proc = subprocess.Popen([os.path.join(BIN, "nowd"), "--db", url, "--port", str(self.port),
                                      *extra], stdout=self.log, stderr=subprocess.STDOUT, env=env)
        deadline = time.time() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    break
            except OSError:
                assert self.proc.poll() is None, "nowd exited: " + self.output()
                assert time.time() < deadline, "nowd did not listen within 30 s"
                time.sleep(0.05)
        self.s = requests.Session()
        self.s.auth = ("admin", ADMIN_PW)
        self.s.headers["Accept"] = "application/json"

    def get(self, path, **kw):
        return self.s.get(self.url + path, **kw)

    def post(self, path, **kw):
        return self.s.post(self.url + path, **kw)

    def delete(self, path, **kw):
        return self.s.delete(self.url + path, **kw)

    def output(self):
        self.log.flush()
        with open(self.logpath) as f:
            return f.read()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=30)
        time.sleep(0.05)
        out = self.output()
        OUTPUTS.append("nowd:\n" + out)
        self.log.close()
        os.unlink(self.logpath)
        assert code == 0, out[-4000:]
        assert "Sanitizer" not in out and "runtime error" not in out, out[-8000:]


@pytest.fixture(scope="module")
def pg():
    """A throw-away cluster, a role with a password, and the instance's URL."""
    d = tempfile.mkdtemp(prefix="sg-pg-")
    os.chmod(d, 0o755)
    r = subprocess.run(["sh", os.path.join(ROOT, "scripts/pg-cluster.sh"), "start", d + "/c"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    user = "postgres" if os.getuid() == 0 else subprocess.run(["id", "-un"], capture_output=True,
                                                              text=True).stdout.strip()
    sock = d + "/c"
    subprocess.run([os.path.join(BINDIR, "psql"), "-h", sock, "-U", user, "-d", "postgres", "-XAtqc",
                    f"CREATE ROLE sgowner LOGIN CREATEDB PASSWORD '{SECRET}'"], check=True,
                   capture_output=True)
    home = os.path.join(d, "home")
    os.makedirs(home)
    env = dict(os.environ, HOME=home, NOWD_ADMIN_PASSWORD=ADMIN_PW)
    for k in ("XDG_CONFIG_HOME", "SNOWGLOBE_KEY", "SNOWGLOBE_KEY_FILE", "NOWCTL_DB", "NOWCTL_DATA",
              "NOWCTL_INSTANCE"):
        env.pop(k, None)
    url = f"postgresql://sgowner:{SECRET}@/sginst?host={sock}"
    try:
        yield {"url": url, "env": env, "home": home, "dir": d, "sock": sock}
    finally:
        subprocess.run(["sh", os.path.join(ROOT, "scripts/pg-cluster.sh"), "stop", d + "/c"],
                       capture_output=True)
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def inst(pg):
    """nowctl init --demo on the cluster, then a nowd serving it."""
    t0 = time.time()
    r = run([os.path.join(BIN, "nowctl"), "init", "--db", pg["url"], "--demo"], pg["env"])
    pg["init_s"] = time.time() - t0
    assert "Instance created in postgresql://sgowner:***@/sginst" in r.stdout
    node = Node(pg["url"], pg["env"])
    try:
        yield dict(pg, node=node)
    finally:
        node.stop()


def count(node, query):
    r = node.get("/api/now/stats/incident", params={"sysparm_count": "true", "sysparm_query": query})
    assert r.status_code == 200, r.text
    return int(r.json()["result"]["stats"]["count"])


def test_init_serves_the_demo_data(inst):
    n = inst["node"]
    r = n.get("/api/now/table/incident", params={"sysparm_query": "short_description=Printer out of toner",
                                                 "sysparm_fields": "number,caller_id,state",
                                                 "sysparm_display_value": "true"})
    assert r.status_code == 200, r.text
    rows = r.json()["result"]
    assert len(rows) == 1 and rows[0]["number"].startswith("INC")
    assert rows[0]["caller_id"]["display_value"] == "Abel Tuter"
    assert count(n, "") >= 6
    # Case-insensitive as ServiceNow compares: the demo's admin by another case.
    r = n.get("/api/now/table/sys_user", params={"sysparm_query": "user_name=ADMIN", "sysparm_fields": "user_name"})
    assert [u["user_name"] for u in r.json()["result"]] == ["admin"]


def test_key_file_outside_the_database(inst):
    keys = os.path.join(inst["home"], ".config/snowglobe/keys")
    files = os.listdir(keys)
    assert len(files) == 1 and files[0].endswith("-5432-sginst.key"), files
    path = os.path.join(keys, files[0])
    st = os.stat(path)
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_size == 32
    assert stat.S_IMODE(os.stat(keys).st_mode) == 0o700
    # A password2 value round-trips through the key: sealed in the database.
    n = inst["node"]
    r = n.post("/api/now/table/sys_properties", json={"name": "x.pg.secret", "type": "password2",
                                                      "value": "clear-text-42"})
    assert r.status_code == 201, r.text
    out = subprocess.run([os.path.join(BINDIR, "psql"), "-h", inst["sock"], "-U", "sgowner", "-d", "sginst",
                          "-XAtqc", "SELECT value FROM sys_properties WHERE name = 'x.pg.secret'"],
                         capture_output=True, text=True, check=True).stdout
    assert out.startswith("$sg1$") and "clear-text-42" not in out


def test_a_node_without_the_key_is_refused_and_one_with_a_copy_serves(inst, tmp_path):
    env = dict(inst["env"], HOME=str(tmp_path))  # no key under this HOME
    r = subprocess.run([os.path.join(BIN, "nowd"), "--db", inst["url"], "--port", str(free_port())],
                       capture_output=True, text=True, env=env, timeout=60)
    OUTPUTS.append("nowd (no key):\n" + r.stdout + r.stderr)
    assert r.returncode != 0
    assert "instance key" in r.stderr and "is missing" in r.stderr and "--key-file" in r.stderr, r.stderr
    # A second node, given a copy of the key with --key-file, serves the same database.
    keys = os.path.join(inst["home"], ".config/snowglobe/keys")
    copy = tmp_path / "node2.key"
    shutil.copy(os.path.join(keys, os.listdir(keys)[0]), copy)
    os.chmod(copy, 0o600)
    node2 = Node(inst["url"], env, extra=("--key-file", str(copy)))
    try:
        assert count(node2, "short_description=Printer out of toner") == 1
    finally:
        node2.stop()


def test_snapshot_save_change_restore_reset(inst):
    n = inst["node"]
    before = count(n, "")
    r = n.post("/_snowglobe/snapshots", json={"name": "before-change"})
    assert r.status_code == 201, r.text
    inst["save_ms"] = r.json()["result"]["saved_in_ms"]
    r = n.post("/api/now/table/incident", json={"short_description": "made after the snapshot"})
    assert r.status_code == 201
    assert count(n, "") == before + 1
    r = n.post("/_snowglobe/snapshots/before-change/restore")
    assert r.status_code == 200, r.text
    inst["restore_ms"] = r.json()["result"]["restored_in_ms"]
    assert count(n, "") == before
    assert count(n, "short_description=made after the snapshot") == 0
    names = [s["name"] for s in n.get("/_snowglobe/snapshots").json()["result"]]
    assert names == ["before-change", "init"]
    # Offline, nowctl sees the same snapshots (they live in the database, not beside a node).
    r = run([os.path.join(BIN, "nowctl"), "--db", inst["url"], "snapshot", "list"], inst["env"])
    assert "before-change" in r.stdout and "init" in r.stdout
    run([os.path.join(BIN, "nowctl"), "--db", inst["url"], "snapshot", "save", "offline-one"], inst["env"])
    assert "offline-one" in [s["name"] for s in n.get("/_snowglobe/snapshots").json()["result"]]
    assert n.delete("/_snowglobe/snapshots/offline-one").status_code == 204
    assert n.delete("/_snowglobe/snapshots/offline-one").status_code == 404
    assert n.post("/_snowglobe/snapshots/no-such/restore").status_code == 404
    # Reset: back to the instance nowctl init made.
    n.post("/api/now/table/incident", json={"short_description": "gone after reset"})
    r = n.post("/_snowglobe/reset")
    assert r.status_code == 200, r.text
    assert count(n, "short_description=gone after reset") == 0
    assert count(n, "") == before


def test_restore_undoes_a_schema_change(inst):
    n = inst["node"]
    field = {"name": "incident", "element": "u_pg_extra", "internal_type": "string", "max_length": "40",
             "column_label": "PG extra"}
    assert n.post("/api/now/table/sys_dictionary", json=field).status_code == 201
    r = n.post("/api/now/table/incident", json={"short_description": "with extra", "u_pg_extra": "hello"})
    assert r.status_code == 201 and r.json()["result"]["u_pg_extra"] == "hello"
    assert n.post("/_snowglobe/reset").status_code == 200
    cols = subprocess.run([os.path.join(BINDIR, "psql"), "-h", inst["sock"], "-U", "sgowner", "-d", "sginst",
                           "-XAtqc", "SELECT count(*) FROM information_schema.columns WHERE table_schema = "
                           "current_schema() AND table_name = 'incident' AND column_name = 'u_pg_extra'"],
                          capture_output=True, text=True, check=True).stdout.strip()
    assert cols == "0"
    r = n.get("/api/now/table/incident", params={"sysparm_limit": "1", "sysparm_fields": "u_pg_extra,number"})
    assert "u_pg_extra" not in r.json()["result"][0]
    # The field can be made again: the dictionary and the table agree.
    assert n.post("/api/now/table/sys_dictionary", json=field).status_code == 201
    r = n.post("/api/now/table/incident", json={"short_description": "again", "u_pg_extra": "x"})
    assert r.status_code == 201 and r.json()["result"]["u_pg_extra"] == "x"
    assert n.post("/_snowglobe/reset").status_code == 200


def test_restores_under_concurrent_reads_and_writes(inst):
    """Snapshot B holds five more incidents than A.  While restores alternate between them,
    every count read is A's or B's, never between, and no write fails; once the writers stop,
    a last restore leaves exactly A's state."""
    n = inst["node"]
    assert n.post("/_snowglobe/snapshots", json={"name": "conc-a"}).status_code == 201
    a = count(n, "short_description=conc row")
    for i in range(5):
        assert n.post("/api/now/table/incident", json={"short_description": "conc row"}).status_code == 201
    assert n.post("/_snowglobe/snapshots", json={"name": "conc-b"}).status_code == 201
    stop = threading.Event()
    seen, errors, writes = set(), [], [0]

    def reader():
        s = requests.Session()
        s.auth = ("admin", ADMIN_PW)
        while not stop.is_set():
            r = s.get(n.url + "/api/now/stats/incident",
                      params={"sysparm_count": "true", "sysparm_query": "short_description=conc row"})
            if r.status_code != 200:
                errors.append(("read", r.status_code, r.text[:200]))
            else:
                seen.add(int(r.json()["result"]["stats"]["count"]))

    def writer():
        s = requests.Session()
        s.auth = ("admin", ADMIN_PW)
        while not stop.is_set():
            r = s.post(n.url + "/api/now/table/incident", json={"short_description": "conc write"})
            if r.status_code != 201:
                errors.append(("write", r.status_code, r.text[:200]))
            writes[0] += 1

    threads = [threading.Thread(target=reader) for _ in range(2)] + [threading.Thread(target=writer)]
    for t in threads:
        t.start()
    try:
        for i in range(6):
            r = n.post(f"/_snowglobe/snapshots/conc-{'ab'[i % 2]}/restore")
            assert r.status_code == 200, r.text
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    assert not errors, errors[:5]
    assert seen <= {a, a + 5} and seen, seen
    assert writes[0] > 0
    assert n.post("/_snowglobe/snapshots/conc-a/restore").status_code == 200
    assert count(n, "short_description=conc row") == a
    assert count(n, "short_description=conc write") == 0
    for name in ("conc-a", "conc-b"):
        assert n.delete(f"/_snowglobe/snapshots/{name}").status_code == 204
    assert n.post("/_snowglobe/reset").status_code == 200


def test_attachments_live_under_the_data_home_not_a_folder_named_after_the_url(inst):
    n = inst["node"]
    inc = n.get("/api/now/table/incident", params={"sysparm_limit": "1", "sysparm_fields": "sys_id"})
    sys_id = inc.json()["result"][0]["sys_id"]
    r = n.post("/api/now/attachment/file", params={"table_name": "incident", "table_sys_id": sys_id,
                                                   "file_name": "note.txt"},
               data=b"pg attachment body", headers={"Content-Type": "text/plain"})
    assert r.status_code == 201, r.text
    att = r.json()["result"]["sys_id"]
    r = n.get(f"/api/now/attachment/{att}/file", headers={"Accept": "*/*"})
    assert r.status_code == 200 and r.content == b"pg attachment body"
    base = os.path.join(inst["home"], ".local/share/snowglobe/attachments")
    dirs = os.listdir(base)
    assert len(dirs) == 1 and dirs[0].endswith("-5432-sginst"), dirs
    assert not os.path.exists(os.path.join(os.getcwd(), "postgresql:"))
    assert n.delete(f"/api/now/attachment/{att}").status_code == 204


def test_init_into_an_empty_database_an_admin_made(inst):
    subprocess.run([os.path.join(BINDIR, "createdb"), "-h", inst["sock"], "-U", "sgowner", "sgpremade"],
                   check=True, capture_output=True)
    url = inst["url"].replace("/sginst?", "/sgpremade?")
    r = run([os.path.join(BIN, "nowctl"), "init", "--db", url], inst["env"])
    assert "Instance created in postgresql://sgowner:***@/sgpremade" in r.stdout
    r = run([os.path.join(BIN, "nowctl"), "--db", url, "snapshot", "list"], inst["env"])
    assert r.stdout.split()[0] == "init"


def test_ephemeral_is_refused(inst):
    r = subprocess.run([os.path.join(BIN, "nowd"), "--db", inst["url"], "--ephemeral", "--port",
                        str(free_port())], capture_output=True, text=True, env=inst["env"], timeout=60)
    OUTPUTS.append("nowd --ephemeral:\n" + r.stdout + r.stderr)
    assert r.returncode == 2 and "--ephemeral" in r.stderr and "snapshot" in r.stderr


def test_errors_name_the_database_without_its_password(inst, tmp_path):
    bad = inst["url"].replace("/sginst?", "/no_such_db?")
    r = subprocess.run([os.path.join(BIN, "nowd"), "--db", bad, "--port", str(free_port())],
                       capture_output=True, text=True, env=inst["env"], timeout=60)
    OUTPUTS.append("nowd (no database):\n" + r.stdout + r.stderr)
    assert r.returncode != 0 and "sgowner:***@" in r.stderr, r.stderr
    r = run([os.path.join(BIN, "nowctl"), "--db", bad, "snapshot", "list"], inst["env"], ok=False)
    assert r.returncode != 0 and "sgowner:***@" in r.stderr, r.stderr
    r = run([os.path.join(BIN, "nowctl"), "init", "--db", inst["url"]], inst["env"], ok=False)
    assert r.returncode == 1 and "already holds an instance" in r.stderr and "sgowner:***@" in r.stderr
    # nowsync on a server URL: the error masks it, and the profiles folder is not built from it.
    env = dict(inst["env"], XDG_CONFIG_HOME=str(tmp_path / "cfg"), NOWSYNC_KEY="A" * 43 + "=")
    env.pop("NOWSYNC_PROFILES", None)
    r = run([os.path.join(BIN, "nowsync"), "--db", "postgresql://sgowner:" + SECRET + "@/no_such_db?host=/nonexistent",
             "connection", "list"], env, ok=False)
    assert r.returncode != 0 and "sgowner:***@" in r.stdout + r.stderr, r.stdout + r.stderr
    sync_url = inst["url"].replace("/sginst?", "/sgsync?")
    r = run([os.path.join(BIN, "nowsync"), "--db", sync_url, "profile", "list"], env, ok=False)
    assert not os.path.exists(os.path.join(os.getcwd(), "postgresql:")), "a folder named after the URL"
    assert r.returncode == 0, r.stdout + r.stderr


def test_no_output_holds_the_password(inst):
    """Last: everything the programs printed in this file, and nowd's log so far."""
    texts = OUTPUTS + ["nowd (serving):\n" + inst["node"].output()]
    assert any("sgowner:***@" in t for t in texts)
    leaks = [t[:300] for t in texts if SECRET in t]
    assert not leaks, leaks
