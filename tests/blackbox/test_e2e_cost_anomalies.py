"""Scenario 3 end to end (cost anomalies to incidents with instance-aware fields, Finout-style).

Two nowd instances (one account, several instances); examples/cost-anomalies/setup.sh run for
real against each (twice: idempotent); the product side is nowsync: two connections (password
grant), `nowsync fields` listing the incident's "additional fields" (custom u_ fields with their
types and choices), cost-anomaly events routed to each instance by connection and created as
incidents carrying those fields by the integration user, a change made in the instance sent back
to a stand-in of the product's webhook, and `connection remove` leaving nothing of the removed
connection in the state database.  Negative: the recipe without its read ACLs (SKIP_STEP=2), and
`nowsync fields` names the five missing ACLs, exactly."""
import http.server
import json
import os
import sqlite3
import subprocess
import threading
import time

import pytest

from conftest import BIN, PASSWORD, Server, free_port, nowctl

ROOT = os.path.join(os.path.dirname(__file__), "../..")
EXAMPLE = os.path.join(ROOT, "examples/cost-anomalies")
NOWSYNC = os.path.join(BIN, "nowsync")
FIVE = ["sys_db_object", "sys_db_object.*", "sys_dictionary", "sys_dictionary.*", "sys_glide_object"]


def run_setup(srv, secrets, skip=None):
    env = dict(os.environ, NOWCTL=os.path.join(BIN, "nowctl"), NOWCTL_INSTANCE=srv.url, NOWCTL_USER="admin",
               NOWCTL_PASSWORD=PASSWORD, SECRETS_OUT=str(secrets))
    env.pop("NOWCTL_DATA", None)
    if skip:
        env["SKIP_STEP"] = str(skip)
    r = subprocess.run(["sh", os.path.join(EXAMPLE, "setup.sh")], capture_output=True, text=True, env=env,
                       timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def secrets_of(path):
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def ns(state, *args, ok=True, env=None, stdin=None):
    e = dict(os.environ, NOWSYNC_PROFILES=str(state / "profiles"), **(env or {}))
    r = subprocess.run([NOWSYNC, "--data", str(state), *args], capture_output=True, text=True, env=e,
                       input=stdin or "", timeout=120)
    assert "Sanitizer" not in r.stderr and "runtime error" not in r.stderr, r.stderr
    if ok:
        assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r


def connect(state, name, srv, sec, test=True):
    env = {"NOWSYNC_CLIENT_SECRET": sec["client_secret"], "NOWSYNC_PASSWORD": sec["password"]}
    return ns(state, "connection", "add", name, "--instance", srv.url, "--auth", "password", "--client-id",
              sec["client_id"], "--user", sec["username"], *([] if test else ["--no-test"]), ok=False, env=env)


def connect_sh(state, name, srv, secrets):
    """examples/cost-anomalies/connect.sh as an admin runs it: the connection, the profile, the fields."""
    env = dict(os.environ, NOWSYNC=NOWSYNC, NOWSYNC_DATA=str(state), SECRETS_OUT=str(secrets), INSTANCE=srv.url,
               CONNECTION=name)
    env.pop("NOWSYNC_PROFILES", None)
    r = subprocess.run(["sh", os.path.join(EXAMPLE, "connect.sh")], capture_output=True, text=True, env=env,
                       timeout=120)
    assert "Sanitizer" not in r.stderr and "runtime error" not in r.stderr, r.stderr
    return r


def snapshot(srv):
    """What setup.sh makes, as the admin sees it (to compare two runs)."""
    q = {"sys_user": "user_name=finout.integration", "sys_user_role": "name=x_finout_metadata",
         "sys_user_has_role": "user.user_name=finout.integration",
         "sys_security_acl_role": "sys_user_role.name=x_finout_metadata", "oauth_entity": "name=Finout",
         "sys_dictionary": "elementSTARTSWITHu_", "sys_choice": "element=u_anomaly_type"}
    out = {}
    for t, query in q.items():
        rows = json.loads(nowctl(srv, "--json", "table", "list", t, "--query", query, offline=True).stdout or "[]")
        out[t] = sorted(r["sys_id"] for r in rows)
    return out


class Hook:
    """The product's webhook stand-in: keeps every POSTed JSON body."""

    def __init__(self):
        self.got, self.port, hook = [], free_port(), self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                hook.got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(204)
                self.end_headers()

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), H)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def event(key, amount, anomaly_type, cost_center, severity="medium", connection=None):
    e = {"key": key, "status": "firing", "summary": f"Cost anomaly: {key} at {amount} USD", "severity": severity,
         "fields": {"service": key.split("/")[0], "amount": amount, "currency": "USD", "expected": 100,
                    "link": f"https://app.example/anomalies/{key}", "cost_center": cost_center,
                    "anomaly_type": anomaly_type}}
    if connection:
        e["connection"] = connection
    return json.dumps(e)


def incidents(srv, query):
    r = srv.get("/api/now/table/incident", params={
        "sysparm_query": query, "sysparm_fields": "sys_id,number,short_description,u_cost_center,u_anomaly_type,"
        "impact,urgency,correlation_id,sys_created_by,state"})
    return r.json()["result"]


def every_value(db_path):
    """{table: [row, ...]} of the whole state database."""
    con = sqlite3.connect(db_path)
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {t: con.execute(f'SELECT * FROM "{t}"').fetchall() for t in tables}
    finally:
        con.close()


def holds(rows_by_table, needle):
    return sorted({t for t, rows in rows_by_table.items() for row in rows
                   for v in row if isinstance(v, str) and needle in v})


@pytest.fixture
def two():
    a, b = Server(demo=False), Server(demo=False)
    for s in (a, b):
        nowctl(s, "property", "set", "snowglobe.rest.allow_elevation", "true", offline=True)
    yield a, b
    a.stop()
    b.stop()


def test_cost_anomalies_two_instances(two, tmp_path):
    a, b = two
    sa, sb = tmp_path / "secrets-a", tmp_path / "secrets-b"
    run_setup(a, sa)
    run_setup(b, sb)
    # idempotent: a second run changes nothing and shows no secret again
    first, text = snapshot(a), sa.read_text()
    assert "added" not in run_setup(a, sa)
    assert snapshot(a) == first and sa.read_text() == text
    assert len(first["sys_security_acl_role"]) == 6 and len(first["sys_dictionary"]) == 2
    assert oct(os.stat(sa).st_mode & 0o777) == "0o600"
    sec_a, sec_b = secrets_of(sa), secrets_of(sb)
    assert sec_a["client_secret"] != sec_b["client_secret"]

    state = tmp_path / "ns"
    r = connect_sh(state, "finout-us", a, sa)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "u_anomaly_type" in r.stdout and (state / "profiles" / "cost-anomalies.json").exists()
    r = connect(state, "finout-eu", b, sec_b)
    assert r.returncode == 0, r.stdout + r.stderr

    # "additional fields": custom ones with their types and choices, inherited ones from task
    r = ns(state, "fields", "finout-us", "--json")
    got = json.loads(r.stdout)
    assert got["tables"] == ["incident", "task"] and got["missing_acls"] == [] and "explanation" not in got
    f = {x["element"]: x for x in got["fields"]}
    assert f["u_cost_center"] == {"element": "u_cost_center", "label": "Cost center", "type": "string",
                                  "type_label": "String", "table": "incident", "mandatory": False,
                                  "read_only": False, "max_length": 40, "custom": True}
    assert f["u_anomaly_type"]["type"] == "choice" and f["u_anomaly_type"]["custom"]
    assert f["u_anomaly_type"]["choices"] == [{"value": "spike", "label": "Spike"},
                                              {"value": "drift", "label": "Drift"},
                                              {"value": "new_service", "label": "New service"}]
    assert f["short_description"]["table"] == "task" and f["short_description"]["max_length"] == 160
    assert f["caller_id"]["reference"] == "sys_user" and not f["caller_id"]["custom"]
    assert [c["value"] for c in f["state"]["choices"]][:3] == ["1", "2", "3"]  # incident's own list
    assert "u_anomaly_type" in ns(state, "fields", "finout-eu").stdout
    ns(state, "profile", "check", "cost-anomalies", "--connection", "finout-us")

    # back to the product: changes on the US instance's incidents go to its webhook
    hook = Hook()
    try:
        ns(state, "backsync", "add", "finout-us", "--webhook", f"http://127.0.0.1:{hook.port}/servicenow",
           "--lag", "1", "--overlap", "2", "--interval", "1")
        ns(state, "backsync", "add", "finout-eu", "--ndjson", str(tmp_path / "eu.ndjson"))
        # events routed by connection: two to the US instance, one to the EU one, one refused
        us = "\n".join([event("ec2/us-east-1", 420, "spike", "CC-100", "high"),
                        event("s3/logs", 180, "drift", "CC-200", "low")])
        assert ns(state, "push", "-", "--connection", "finout-us", "--profile", "cost-anomalies",
                  stdin=us).returncode == 0
        ns(state, "push", "-", "--connection", "finout-eu", "--profile", "cost-anomalies",
           stdin=event("rds/eu-west-1", 300, "new_service", "CC-300"))
        ns(state, "push", "-", "--connection", "finout-us", "--profile", "cost-anomalies",
           stdin=event("gke/prod", 150, "tornado", "CC-100"))
        # ... and by profile: a profile naming its connection takes events that name none
        prof = json.loads((state / "profiles" / "cost-anomalies.json").read_text())
        (state / "profiles" / "cost-anomalies-eu.json").write_text(json.dumps(dict(prof, connection="finout-eu")))
        ns(state, "push", "-", "--profile", "cost-anomalies-eu", stdin=event("rds/eu-central-1", 250, "drift", "CC-301"))
        r = ns(state, "run", "--wait", "--timeout", "30", ok=False)
        assert r.returncode == 3, r.stdout + r.stderr  # one dead letter: the unknown anomaly type

        made = incidents(a, "correlation_idSTARTSWITHfinout:^ORDERBYcorrelation_id")
        assert [(i["correlation_id"], i["u_cost_center"], i["u_anomaly_type"], i["impact"], i["urgency"],
                 i["sys_created_by"]) for i in made] == [
            ("finout:ec2/us-east-1", "CC-100", "spike", "1", "2", "finout.integration"),
            ("finout:s3/logs", "CC-200", "drift", "3", "3", "finout.integration")]
        assert made[0]["short_description"] == "Cost anomaly: ec2/us-east-1 at 420 USD"
        eu = incidents(b, "correlation_idSTARTSWITHfinout:^ORDERBYcorrelation_id")
        assert [(i["correlation_id"], i["u_anomaly_type"], i["sys_created_by"]) for i in eu] == [
            ("finout:rds/eu-central-1", "drift", "finout.integration"),
            ("finout:rds/eu-west-1", "new_service", "finout.integration")]
        assert incidents(a, "correlation_idSTARTSWITHfinout:rds") == []
        assert incidents(a, "correlation_id=finout:gke/prod") == []  # never sent: not a choice
        dead = json.loads(ns(state, "outbox", "list", "--dead", "--json").stdout)
        assert len(dead) == 1 and "validation (not sent)" in json.dumps(dead) and "tornado" in json.dumps(dead)

        # a person resolves the US spike: the product hears of it
        sid = made[0]["sys_id"]
        r = a.patch(f"/api/now/table/incident/{sid}", json={"state": "6", "close_code": "Solution provided",
                                                            "close_notes": "reserved instances bought"})
        assert r.status_code == 200, r.text
        deadline = time.time() + 20
        while time.time() < deadline and not any(g["sys_id"] == sid and g["state"] == "6" for g in hook.got):
            ns(state, "backsync", "run", "--once", "finout-us", "--quiet", ok=False)
            time.sleep(0.3)
        back = [g for g in hook.got if g["sys_id"] == sid and g["state"] == "6"]
        assert back and back[0]["key"] == "ec2/us-east-1" and back[0]["connection"] == "finout-us"
        assert back[0]["record"]["close_notes"] == "reserved instances bought"
    finally:
        hook.close()

    # deleting the EU integration deletes everything attached to it, and nothing of the US one
    ns(state, "token", "create", "eu-intake", "--connection", "finout-eu", "--profile", "cost-anomalies")
    ns(state, "push", "-", "--connection", "finout-eu", "--profile", "cost-anomalies",
       stdin=event("rds/eu-west-2", 310, "spike", "CC-300"))  # queued, never delivered
    ns(state, "push", "-", "--connection", "finout-eu", "--profile", "cost-anomalies",
       stdin=event("rds/eu-west-3", 310, "hurricane", "CC-300"))
    db = str(state / "nowsync.db")
    before = every_value(db)
    with_eu = holds(before, "finout-eu")
    assert {"ns_connection", "ns_event", "ns_link", "ns_dict_cache", "ns_intake_token", "ns_bs_config",
            "ns_bs_cursor"} <= set(with_eu), with_eu
    us_rows = {t: len([row for row in rows if "finout-us" in row]) for t, rows in before.items()}
    r = ns(state, "connection", "remove", "finout-eu")
    assert "connection finout-eu removed" in r.stderr
    after = every_value(db)
    assert holds(after, "finout-eu") == []
    assert {t: len([row for row in rows if "finout-us" in row]) for t, rows in after.items()} == us_rows
    assert [t["name"] for t in json.loads(ns(state, "token", "list", "--json").stdout)] == []
    assert [c["name"] for c in json.loads(ns(state, "connection", "list", "--json").stdout)] == ["finout-us"]
    r = ns(state, "connection", "remove", "finout-eu", ok=False)
    assert r.returncode == 1 and "no connection called finout-eu" in r.stderr


def test_cost_anomalies_without_read_acls(tmp_path):
    srv = Server(demo=False)
    try:
        nowctl(srv, "property", "set", "snowglobe.rest.allow_elevation", "true", offline=True)
        sec = tmp_path / "secrets"
        run_setup(srv, sec, skip=2)  # the guide's step 2 (the five read ACLs) left out
        state = tmp_path / "ns"
        r = connect_sh(state, "finout", srv, sec)  # saved (its test warns), then the fields: exit 6
        assert r.returncode == 6, r.stdout + r.stderr
        lines = r.stdout.splitlines()
        at = [i for i, line in enumerate(lines) if line.startswith("no fields listed")]
        assert at and lines[at[0] - 1] == "incident", r.stdout
        assert lines[at[0]:at[0] + 2] == [
            "no fields listed: the instance refused or returned nothing for reads of its metadata (ServiceNow "
            "answers 403 or an empty list for rows the user cannot read). Add read ACLs for this user's role on: "
            + ", ".join(FIVE),
            "  sys_db_object (the table incident): refused, HTTP 403: Insufficient rights to query records"]
        r = ns(state, "fields", "finout", "--json", ok=False)
        assert r.returncode == 6, r.stdout + r.stderr
        got = json.loads(r.stdout)
        assert got["fields"] == [] and got["missing_acls"] == FIVE
        assert got["explanation"].endswith("Add read ACLs for this user's role on: " + ", ".join(FIVE))
        assert {(x["table"], x["status"], x["outcome"]) for x in got["reads"]} == {
            ("sys_db_object", 403, "refused"), ("sys_dictionary", 403, "refused"),
            ("sys_glide_object", 403, "refused")}
        text = ns(state, "fields", "finout", ok=False).stdout
        assert "no fields listed" in text and "sys_dictionary (the columns of incident): refused, HTTP 403" in text

        # an ACL whose condition hides every row: a 200 with an empty list, still named
        nowctl(srv, "acl", "add", "sys_glide_object", "--operation", "read", "--role", "x_finout_metadata",
               "--condition", "name=no_such_type")
        got = json.loads(ns(state, "fields", "finout", "--json", ok=False).stdout)
        assert got["missing_acls"] == FIVE
        assert ("sys_glide_object", 200, 0, "empty") in {(x["table"], x["status"], x["rows"], x["outcome"])
                                                         for x in got["reads"]}

        # the step done after all (the recipe run again in full): the fields are listed
        run_setup(srv, sec)
        r = ns(state, "fields", "finout", "--json")
        got = json.loads(r.stdout)
        assert got["missing_acls"] == [] and "explanation" not in got
        assert {"u_cost_center", "u_anomaly_type", "short_description"} <= {f["element"] for f in got["fields"]}
    finally:
        srv.stop()
