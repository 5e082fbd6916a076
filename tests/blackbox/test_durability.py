"""Durability: every incident acknowledged with 201 survives nowd being killed with SIGKILL.

Writers post incidents from several threads; nowd is killed in the middle of the load,
restarted on the same data directory, and every acknowledged record must be there, intact,
with its number, and numbers must be unique.  SQLite runs in WAL mode with synchronous=FULL:
a commit is on disk before the 201 goes out.
"""
import threading
import time

import requests

from conftest import PASSWORD, Server


def test_acknowledged_writes_survive_sigkill():
    s = Server(demo=False)
    acked, lock, stop = {}, threading.Lock(), threading.Event()

    def writer(n):
        session = requests.Session()
        session.auth = ("admin", PASSWORD)
        i = 0
        while not stop.is_set():
            body = {"short_description": f"w{n}-{i}", "description": "x" * 200, "impact": "2"}
            try:
                r = session.post(s.url + "/api/now/table/incident", json=body, timeout=10)
            except requests.RequestException:
                return  # the server died under us: this write was never acknowledged
            if r.status_code == 201:
                rec = r.json()["result"]
                with lock:
                    acked[rec["sys_id"]] = (body["short_description"], rec["number"])
            i += 1

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    deadline = time.time() + 30
    while len(acked) < 150 and time.time() < deadline:
        time.sleep(0.05)
    s.kill()
    stop.set()
    for t in threads:
        t.join(timeout=30)
    assert len(acked) >= 150, "the writers made too little progress to prove anything"

    s.start()
    try:
        r = s.get("/api/now/table/incident",
                  params={"sysparm_fields": "sys_id,short_description,number,priority", "sysparm_limit": "100000"})
        assert r.status_code == 200
        stored = {row["sys_id"]: row for row in r.json()["result"]}
        missing = [sid for sid in acked if sid not in stored]
        assert not missing, f"{len(missing)} acknowledged incidents lost"
        for sid, (desc, number) in acked.items():
            assert stored[sid]["short_description"] == desc and stored[sid]["number"] == number
            assert stored[sid]["priority"] == "4"
        numbers = [row["number"] for row in stored.values()]
        assert len(numbers) == len(set(numbers))
        # the instance keeps working after recovery
        assert s.post("/api/now/table/incident", json={"short_description": "after"}).status_code == 201
    finally:
        s.stop()
