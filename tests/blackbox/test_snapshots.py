"""Snapshots (issue 18, item 1): save, restore, list and delete online (/_snowglobe/snapshots)
and offline (nowctl --data), reset to the instance as `nowctl init` made it, a restore under
concurrent readers and writers (no reader ever sees a mix of before and after), caches that
follow a restore on the very next request, and nowd --ephemeral leaving the data directory
byte for byte as it was."""
import hashlib
import os
import threading
import time

import requests

from conftest import PASSWORD, Server, as_user, nowctl, sqlite_only, wait_for

INC = "/api/now/table/incident"


def incident(server, **fields):
    r = server.post(INC, json=fields)
    assert r.status_code == 201, r.text
    return r.json()["result"]["sys_id"]


def short_description(server, sys_id):
    r = server.get(f"{INC}/{sys_id}", params={"sysparm_fields": "short_description"})
    return r.status_code, (r.json().get("result") or {}).get("short_description")


def names(server):
    r = server.get("/_snowglobe/snapshots")
    assert r.status_code == 200, r.text
    return {row["name"]: row for row in r.json()["result"]}


def test_save_list_restore_delete_online(server):
    sid = incident(server, short_description="snap-before")
    r = server.post("/_snowglobe/snapshots", json={"name": "t_online-1.0"})
    assert r.status_code == 201, r.text
    row = r.json()["result"]
    assert row["name"] == "t_online-1.0" and row["size"] > 0 and row["created"]
    listed = names(server)
    assert listed["t_online-1.0"]["size"] == row["size"]
    assert "init" in listed  # nowctl init kept the instance as made

    assert server.patch(f"{INC}/{sid}", json={"short_description": "snap-after"}).status_code == 200
    later = incident(server, short_description="snap-later")
    r = server.post("/_snowglobe/snapshots/t_online-1.0/restore")
    assert r.status_code == 200, r.text
    assert r.json()["result"]["name"] == "t_online-1.0"
    assert r.json()["result"]["restored_in_ms"] >= 0
    assert short_description(server, sid) == (200, "snap-before")
    assert short_description(server, later)[0] == 404

    assert server.delete("/_snowglobe/snapshots/t_online-1.0").status_code == 204
    assert "t_online-1.0" not in names(server)
    r = server.post("/_snowglobe/snapshots/t_online-1.0/restore")
    assert r.status_code == 404
    assert r.json() == {"error": {"message": "No Record found", "detail": "No snapshot named t_online-1.0"},
                        "status": "failure"}
    assert server.delete("/_snowglobe/snapshots/t_online-1.0").status_code == 404


def test_names_bodies_and_rights(server):
    for bad in ("../x", ".hidden", "a/b", "", "x" * 65, "sp ace", "é"):
        r = server.post("/_snowglobe/snapshots", json={"name": bad})
        assert r.status_code == 400, (bad, r.text)
        assert r.json()["error"]["message"] == "Invalid snapshot name"
    for body in ({"name": 5}, [], {"nom": "x"}):
        assert server.post("/_snowglobe/snapshots", json=body).status_code == 400, body
    assert server.post("/_snowglobe/snapshots", data="{no json",
                       headers={"Content-Type": "application/json"}).status_code == 400
    assert server.post("/_snowglobe/snapshots").status_code == 400  # no body
    for path in ("/_snowglobe/snapshots/..%2F..%2Finstance/restore", "/_snowglobe/snapshots/.x/restore"):
        assert server.post(path).status_code in (400, 404), path
    assert server.delete("/_snowglobe/snapshots/.x").status_code == 400
    assert server.post("/_snowglobe/reset", json={"snapshot": "../init"}).status_code == 400
    # Nothing outside the snapshot folder was made.
    assert not os.path.exists(os.path.join(server.data, "x.db"))

    nowctl(server, "user", "add", "snap_itil", "--password", PASSWORD, "--role", "itil")
    call = as_user(server, "snap_itil", PASSWORD)
    for method, path in (("GET", "/_snowglobe/snapshots"), ("POST", "/_snowglobe/reset"),
                         ("POST", "/_snowglobe/snapshots/init/restore"),
                         ("DELETE", "/_snowglobe/snapshots/init")):
        assert call(method, path).status_code == 403, path
    assert "init" in names(server)


@sqlite_only("reads the snapshot files beside the database (on PostgreSQL: schemas, test_pg_instance.py)")
def test_offline_commands_and_a_running_nowd(fresh):
    sid = incident(fresh, short_description="offline-before")
    r = nowctl(fresh, "snapshot", "save", "off1", offline=True)
    assert "saved off1" in r.stdout
    r = nowctl(fresh, "snapshot", "list", offline=True)
    assert "off1" in r.stdout and "init" in r.stdout and "bytes" in r.stdout
    assert fresh.patch(f"{INC}/{sid}", json={"short_description": "offline-after"}).status_code == 200
    # Restored offline under the running nowd: its next request sees it.
    nowctl(fresh, "snapshot", "restore", "off1", offline=True)
    assert short_description(fresh, sid) == (200, "offline-before")
    # Online through nowctl --instance, the same commands.
    nowctl(fresh, "snapshot", "save", "on1")
    assert "on1" in nowctl(fresh, "snapshot", "list").stdout
    nowctl(fresh, "snapshot", "delete", "on1")
    nowctl(fresh, "snapshot", "delete", "off1", offline=True)
    r = nowctl(fresh, "snapshot", "restore", "off1", offline=True, ok=False)
    assert r.returncode == 1 and "no snapshot named off1" in r.stderr
    r = nowctl(fresh, "snapshot", "save", "../up", offline=True, ok=False)
    assert r.returncode == 2
    r = nowctl(fresh, "snapshot", "restore", "nope", ok=False)
    assert r.returncode == 1 and "404" in r.stderr
    # An instance made before init kept one: reset says what to do.
    os.unlink(os.path.join(fresh.data, "snapshots", "init.db"))
    r = fresh.post("/_snowglobe/reset")
    assert r.status_code == 404 and "nowctl snapshot save init" in r.json()["error"]["detail"]
    r = nowctl(fresh, "snapshot", "reset", offline=True, ok=False)
    assert r.returncode == 1 and "snapshot save init" in r.stderr


def test_reset_to_init_and_to_a_named_snapshot(fresh):
    before = fresh.get(INC, params={"sysparm_fields": "sys_id"}).json()["result"]
    sid = incident(fresh, short_description="to be forgotten")
    assert fresh.post("/_snowglobe/snapshots", json={"name": "with_one"}).status_code == 201
    r = fresh.post("/_snowglobe/reset")
    assert r.status_code == 200 and r.json()["result"]["name"] == "init"
    after = fresh.get(INC, params={"sysparm_fields": "sys_id"}).json()["result"]
    assert sorted(x["sys_id"] for x in after) == sorted(x["sys_id"] for x in before)
    assert short_description(fresh, sid)[0] == 404
    r = fresh.post("/_snowglobe/reset", json={"snapshot": "with_one"})
    assert r.status_code == 200, r.text
    assert short_description(fresh, sid) == (200, "to be forgotten")
    # Snapshots outlive a reset: they are files beside the instance, not in it.
    assert {"init", "with_one"} <= set(names(fresh))


def test_restore_under_concurrent_readers_and_writers(fresh):
    n = 20
    ids = [incident(fresh, short_description="state-A", correlation_id="snapmix") for _ in range(n)]
    assert fresh.post("/_snowglobe/snapshots", json={"name": "mix_a"}).status_code == 201
    for sid in ids:
        assert fresh.patch(f"{INC}/{sid}", json={"short_description": "state-B"}).status_code == 200
    assert fresh.post("/_snowglobe/snapshots", json={"name": "mix_b"}).status_code == 201

    stop = threading.Event()
    seen, bad, failures, erased, lock = set(), [], [], [], threading.Lock()

    def read_loop():
        s = requests.Session()
        s.auth = ("admin", PASSWORD)
        while not stop.is_set():
            r = s.get(fresh.url + INC, params={"sysparm_query": "correlation_id=snapmix",
                                               "sysparm_fields": "short_description"})
            with lock:
                if r.status_code != 200:
                    failures.append((r.status_code, r.text))
                    continue
                rows = r.json()["result"]
                values = {x["short_description"] for x in rows}
                if len(rows) != n or len(values) != 1:
                    bad.append(sorted(x["short_description"] for x in rows))
                seen.update(values)

    def write_loop(k):
        s = requests.Session()
        s.auth = ("admin", PASSWORD)
        i = 0
        while not stop.is_set():
            r = s.post(fresh.url + INC, json={"short_description": f"w{k}-{i}", "correlation_id": "snapw"})
            # 201, or the write committed and a restore erased it before its answer read it
            # back: ServiceNow's 404 for a record that is not there.  Never a 5xx.
            gone = r.status_code == 404 and r.json()["error"]["message"] == "No Record found"
            if gone:
                with lock:
                    erased.append(r)
            elif r.status_code != 201:
                with lock:
                    failures.append((r.status_code, r.text))
            i += 1

    threads = [threading.Thread(target=read_loop) for _ in range(3)]
    threads += [threading.Thread(target=write_loop, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    try:
        for i in range(8):
            r = fresh.post(f"/_snowglobe/snapshots/{'mix_a' if i % 2 == 0 else 'mix_b'}/restore")
            assert r.status_code == 200, r.text
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    assert not bad, bad[:3]
    assert not failures, failures[:3]
    assert seen == {"state-A", "state-B"}
    # The last restore was mix_b: every write before it is gone, none half-kept.
    r = fresh.get(INC, params={"sysparm_query": "correlation_id=snapmix", "sysparm_fields": "short_description"})
    assert {x["short_description"] for x in r.json()["result"]} == {"state-B"}
    w = fresh.post(f"/_snowglobe/snapshots/mix_b/restore")
    assert w.status_code == 200
    r = fresh.get(INC, params={"sysparm_query": "correlation_id=snapw", "sysparm_fields": "sys_id"})
    assert r.json()["result"] == []


def test_caches_follow_a_restore_on_the_next_request(fresh):
    # A role grant (users/roles/ACL caches) and a property (the property cache).
    nowctl(fresh, "user", "add", "snap_reader", "--password", PASSWORD)
    call = as_user(fresh, "snap_reader", PASSWORD)
    query = {"sysparm_query": "no_such_field=1", "sysparm_limit": "1"}
    assert call("GET", INC).status_code == 403
    answer = fresh.get(INC, params=query)
    assert fresh.post("/_snowglobe/snapshots", json={"name": "caches"}).status_code == 201

    nowctl(fresh, "role", "grant", "itil", "--user", "snap_reader")
    assert call("GET", INC).status_code == 200
    fresh.set_property("glide.invalid_query.returns_no_rows", "true")
    changed = fresh.get(INC, params=query)
    assert (changed.status_code, changed.text) != (answer.status_code, answer.text)

    assert fresh.post("/_snowglobe/snapshots/caches/restore").status_code == 200
    assert call("GET", INC).status_code == 403
    again = fresh.get(INC, params=query)
    assert (again.status_code, again.text) == (answer.status_code, answer.text)


def digest(folder):
    out = {}
    for root, dirs, files in os.walk(folder):
        for d in dirs:
            out[os.path.relpath(os.path.join(root, d), folder) + "/"] = "dir"
        for f in files:
            p = os.path.join(root, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, folder)] = (hashlib.sha256(fh.read()).hexdigest(), os.stat(p).st_mtime_ns)
    return out


class DeferredServer(Server):
    """A Server made (nowctl init) but started only when asked."""

    def __init__(self, extra):
        self._deferred = True
        super().__init__(extra=extra)

    def start(self, tls=False):
        if self._deferred:
            self._deferred = False
            return
        super().start(tls)


@sqlite_only("--ephemeral copies a data directory; on PostgreSQL it is refused (test_pg_instance.py)")
def test_ephemeral_leaves_the_data_directory_as_it_was(tmp_path):
    s = DeferredServer(extra=["--ephemeral"])
    before = digest(s.data)
    tmp = str(tmp_path)
    old = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = tmp
    try:
        s.start()
    finally:
        if old is None:
            os.environ.pop("TMPDIR")
        else:
            os.environ["TMPDIR"] = old
    copies = [d for d in os.listdir(tmp) if d.startswith("nowd-ephemeral-")]
    assert len(copies) == 1
    try:
        sid = incident(s, short_description="ephemeral write")
        assert s.post("/_snowglobe/snapshots", json={"name": "eph"}).status_code == 201
        nowctl(s, "user", "add", "eph_user", "--password", PASSWORD)
        assert s.post("/_snowglobe/reset").status_code == 200  # the copied init snapshot
        assert short_description(s, sid)[0] == 404
        incident(s, short_description="after reset")
        assert digest(s.data) == before
    finally:
        s.proc.send_signal(15)
        code = s.proc.wait(timeout=30)
        s.log.close()
    assert code == 0
    assert digest(s.data) == before
    assert not os.listdir(tmp)  # the copy is gone
    # The data dir still serves, without anything the ephemeral run did.
    s2 = DeferredServer(extra=[])
    s2.data, s2.dir = s.data, s.dir
    s2._deferred = False
    s2.start()
    try:
        r = s2.get(INC, params={"sysparm_query": "short_description=ephemeral write"})
        assert r.status_code == 200 and r.json()["result"] == []
        assert "eph" not in names(s2)
    finally:
        s2.stop()


def test_ephemeral_without_an_instance_fails_and_leaves_nothing(tmp_path):
    import subprocess
    from conftest import BIN, free_port
    env = dict(os.environ, TMPDIR=str(tmp_path / "t"))
    os.mkdir(tmp_path / "t")
    r = subprocess.run([os.path.join(BIN, "nowd"), "--data", str(tmp_path / "none"), "--ephemeral",
                        "--port", str(free_port())], capture_output=True, text=True, env=env, timeout=30)
    assert r.returncode == 1
    assert "cannot copy the instance" in r.stdout + r.stderr
    assert not os.listdir(tmp_path / "t")
    assert not os.path.exists(tmp_path / "none")


def test_db_urls_in_one_folder_keep_their_snapshots_apart(tmp_path):
    import subprocess
    from conftest import BIN
    env = dict(os.environ, NOWD_ADMIN_PASSWORD=PASSWORD)
    ctl = os.path.join(BIN, "nowctl")
    for name in ("a", "b"):
        subprocess.run([ctl, "init", "--db", f"sqlite:{tmp_path}/{name}.db"], check=True, env=env,
                       capture_output=True)
    assert sorted(os.listdir(tmp_path / "snapshots")) == ["a", "b"]
    run = lambda name, *args: subprocess.run([ctl, "--db", f"sqlite:{tmp_path}/{name}.db", "snapshot", *args],
                                             capture_output=True, text=True, env=env)
    assert run("a", "save", "only_a").returncode == 0
    assert "only_a" in run("a", "list").stdout
    assert "only_a" not in run("b", "list").stdout
    assert run("b", "restore", "only_a").returncode == 1
    assert run("b", "reset").returncode == 0
    assert os.path.isfile(tmp_path / "snapshots" / "a" / "only_a.db")


def test_reset_starts_rate_limit_counts_and_fault_counters_over(fresh):
    """A reset or restore starts over what nowd counts in memory: the rate-limit hits of
    every rule (none carried into the restored instance) and the fault rules' counters
    and generators; the fault rules themselves stay (a test's own, not the instance's)."""
    nowctl(fresh, "user", "add", "rl.snap", "--password", PASSWORD, "--role", "itil")
    r = fresh.post("/api/now/table/sys_rate_limit_rules",
                   json={"name": "snap rule", "rest_api": "Table API", "table": "incident", "rate": "2",
                         "type": "all_users"})
    assert r.status_code == 201, r.text
    assert fresh.post("/_snowglobe/snapshots", json={"name": "rl_base"}).status_code == 201
    call = as_user(fresh, "rl.snap", PASSWORD)

    def remaining():
        r = call("GET", INC, params={"sysparm_limit": "1"})
        return r.status_code, r.headers.get("X-RateLimit-Remaining")

    assert [remaining(), remaining()] == [(200, "1"), (200, "0")]
    assert remaining()[0] == 429
    fault = fresh.post("/_snowglobe/faults", json={"effect": "error_500", "path": "/api/now/table/problem",
                                                   "count": 1}).json()["result"]
    assert fresh.get("/api/now/table/problem").status_code == 500
    assert fresh.get("/api/now/table/problem").status_code == 200  # its one firing spent
    assert fresh.post("/_snowglobe/reset", json={"snapshot": "rl_base"}).status_code == 200
    assert remaining() == (200, "1")
    kept = fresh.get(f"/_snowglobe/faults/{fault['id']}").json()["result"]
    assert kept["matched"] == 0 and kept["fired"] == 0
    assert fresh.get("/api/now/table/problem").status_code == 500
    # The same after a restore by nowctl offline, which nowd learns of from the instance.
    assert remaining() == (200, "0")
    nowctl(fresh, "snapshot", "restore", "rl_base", offline=True)
    assert wait_for(lambda: remaining() == (200, "1"), timeout=10)
    assert fresh.get("/api/now/table/problem").status_code == 500


def test_offline_restore_drops_the_compiled_scripts(fresh):
    """A rule at the same version with other text in the snapshot restored offline by nowctl
    while nowd runs: nowd runs the restored text, not the one it had compiled."""
    def rule_text(word):
        return f"(function executeRule(current, previous) {{ current.description = '{word}'; }})(current, previous);"

    r = fresh.post("/api/now/table/sys_script", json={
        "name": "snap compiled", "collection": "incident", "when": "before", "action_update": "true",
        "active": "true", "order": "100", "script": rule_text("A")})
    assert r.status_code == 201, r.text
    rid = r.json()["result"]["sys_id"]
    sid = incident(fresh, short_description="compiled")
    assert fresh.post("/_snowglobe/snapshots", json={"name": "cs_base"}).status_code == 201

    def touch():
        r = fresh.patch(f"{INC}/{sid}", json={"short_description": f"x{time.time()}"},
                        params={"sysparm_fields": "description"})
        assert r.status_code == 200, r.text
        return r.json()["result"]["description"]

    assert fresh.patch(f"/api/now/table/sys_script/{rid}", json={"script": rule_text("C")}).status_code == 200
    assert touch() == "C"
    assert fresh.post("/_snowglobe/snapshots", json={"name": "cs_c"}).status_code == 201
    assert fresh.post("/_snowglobe/reset", json={"snapshot": "cs_base"}).status_code == 200
    assert fresh.patch(f"/api/now/table/sys_script/{rid}", json={"script": rule_text("B")}).status_code == 200
    assert touch() == "B"  # compiled at the rule's version 1, text B
    nowctl(fresh, "snapshot", "restore", "cs_c", offline=True)  # the rule at version 1, text C
    assert touch() == "C"
