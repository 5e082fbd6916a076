"""The request journal and the instance clock: entries are stamped in instance time (what
`since=` compares), so a test that set or froze the clock filters with the times it set; the
latency stays on the monotonic clock, unmoved by a frozen instance clock."""
import calendar
import time

from conftest import Server


def test_journal_stamps_and_since_follow_the_instance_clock():
    s = Server(demo=False)
    try:
        def clock(**body):
            r = s.post("/_snowglobe/clock", json=body)
            assert r.status_code == 200, r.text

        def entries(**params):
            r = s.get("/_snowglobe/requests", params={"path": "/api/now/table/incident", **params})
            assert r.status_code == 200, r.text
            return r.json()["result"]

        clock(action="set", time="2030-06-01 12:00:00")
        clock(action="freeze")
        assert s.get("/api/now/table/incident", params={"sysparm_limit": "1", "a": "frozen"}).status_code == 200
        [e] = entries()
        frozen_ms = calendar.timegm((2030, 6, 1, 12, 0, 0)) * 1000
        assert e["time_ms"] == frozen_ms and e["time"] == "2030-06-01 12:00:00.000", e
        assert e["latency_ms"] >= 0
        # since= in the times the test set
        assert len(entries(since="2030-06-01 12:00:00")) == 1
        assert entries(since="2030-06-01 12:00:01") == []
        clock(action="advance", by="1h")
        assert s.get("/api/now/table/incident", params={"sysparm_limit": "1", "a": "later"}).status_code == 200
        got = entries(since="2030-06-01 12:30:00")
        assert [x["query"].split("a=")[1] for x in got] == ["later"], got
        assert got[0]["time_ms"] == frozen_ms + 3600 * 1000
        # running on an offset: stamps near the real time moved by the offset
        clock(action="real")
        clock(action="advance", by="2d")
        before = time.time()
        assert s.get("/api/now/table/incident", params={"sysparm_limit": "1", "a": "offset"}).status_code == 200
        e = entries()[0]
        assert "a=offset" in e["query"]
        assert abs(e["time_ms"] / 1000 - (before + 2 * 86400)) < 5, e
        # the latency is not the instance clock's: an advance during a request is not latency
        assert e["latency_ms"] < 5000
    finally:
        s.stop()
