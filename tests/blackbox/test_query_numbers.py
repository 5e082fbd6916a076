"""Text compared with a number column answers as SQLite does, on either engine
(SG_TEST_DB=postgresql runs this file on PostgreSQL): a value that is not a
number sorts below every number, equals none, and a number that is not an
integer still compares with an integer column."""
from conftest import Server


def numbers(srv, query):
    r = srv.get("/api/now/table/incident", params={"sysparm_query": query, "sysparm_fields": "number",
                                                   "sysparm_limit": "1000"})
    assert r.status_code == 200, (query, r.text)
    return sorted(row["number"] for row in r.json()["result"])


def test_text_against_integer_column():
    srv = Server()
    try:
        for p in ("1", "2", "3"):
            assert srv.post("/api/now/table/incident", json={"short_description": "n" + p,
                                                             "priority": p}).status_code == 201
        rows = srv.get("/api/now/table/incident", params={"sysparm_fields": "number,priority",
                                                          "sysparm_limit": "1000"}).json()["result"]
        prio = {row["number"]: row["priority"] for row in rows}
        every = sorted(prio)
        valued = sorted(n for n, p in prio.items() if p != "")
        assert len(set(prio.values()) - {""}) >= 3, prio

        def where(pred):
            return sorted(n for n, p in prio.items() if p != "" and pred(int(p)))

        # text is above every number: =, >, >= hold for no row; <, <=, != for every valued one
        assert numbers(srv, "priority=abc") == []
        assert numbers(srv, "priority>abc") == []
        assert numbers(srv, "priority>=abc") == []
        assert numbers(srv, "priority<abc") == valued
        assert numbers(srv, "priority<=abc") == valued
        assert numbers(srv, "priority!=abc") == every  # != keeps empty values, as ServiceNow does
        assert numbers(srv, "priorityINabc,xyz") == []
        assert numbers(srv, "priorityNOT INabc,xyz") == every
        assert numbers(srv, "priorityIN1,abc") == where(lambda p: p == 1)
        assert numbers(srv, "priorityNOT IN1,abc") == sorted(set(every) - set(where(lambda p: p == 1)))
        assert numbers(srv, "priorityBETWEEN2@abc") == where(lambda p: p >= 2)
        # numbers that are not integers, or too big for 64 bits, compare as numbers
        assert numbers(srv, "priority<2.5") == where(lambda p: p < 2.5)
        assert numbers(srv, "priority=2.0") == where(lambda p: p == 2)
        assert numbers(srv, "priority>=1e0") == valued
        assert numbers(srv, "priority<99999999999999999999") == valued
        assert numbers(srv, "priority= 2 ") == where(lambda p: p == 2)
        # what PostgreSQL reads as a number and SQLite does not
        assert numbers(srv, "priority<infinity") == valued
        assert numbers(srv, "priority=0x2") == []
        assert numbers(srv, "priorityBETWEEN1@2") == where(lambda p: 1 <= p <= 2)
    finally:
        srv.stop()


def test_sum_and_avg_of_a_string_field():
    """The Aggregate API over a string field holding numbers reads each value's leading number
    (0 when it has none, empty values left out), as SQLite's sum() and avg() do; a sum of
    integers only is an integer, any other a number with a point.  HAVING and ORDER BY use the
    same numbers."""
    srv = Server()
    try:
        for cat, value in (("network", "3"), ("network", "4"), ("software", "2.5"),
                           ("software", "abc"), ("software", "12abc"), ("hardware", "abc"),
                           ("hardware", "")):
            r = srv.post("/api/now/table/incident", json={"short_description": "aggtest", "category": cat,
                                                          "correlation_id": value})
            assert r.status_code == 201, r.text
        base = {"sysparm_query": "short_description=aggtest", "sysparm_sum_fields": "correlation_id",
                "sysparm_avg_fields": "correlation_id"}
        r = srv.get("/api/now/stats/incident", params=base)
        assert r.status_code == 200, r.text
        stats = r.json()["result"]["stats"]
        assert stats["sum"] == {"correlation_id": "21.5"}
        assert stats["avg"] == {"correlation_id": "3.5833"}  # 21.5 over the 6 non-empty values

        def groups(**extra):
            r = srv.get("/api/now/stats/incident", params={**base, "sysparm_group_by": "category", **extra})
            assert r.status_code == 200, r.text
            return [(g["groupby_fields"][0]["value"], g["stats"]["sum"]["correlation_id"],
                     g["stats"]["avg"]["correlation_id"]) for g in r.json()["result"]]

        assert sorted(groups()) == [("hardware", "0.0", "0.0000"), ("network", "7", "3.5000"),
                                    ("software", "14.5", "4.8333")]
        assert [g[0] for g in groups(sysparm_order_by="SUM^correlation_id^DESC")] == [
            "software", "network", "hardware"]
        assert sorted(g[0] for g in groups(sysparm_having="sum^correlation_id^>^5")) == ["network", "software"]
        assert [g[0] for g in groups(sysparm_having="avg^correlation_id^<^4")] == ["hardware", "network"]
    finally:
        srv.stop()
