"""nowctl migrate: a SQLite instance copied whole into PostgreSQL, then served from there.

The source has the demo data, a table and a u_ field made through the dictionary, an OAuth
application (its secret sealed under the instance key) and an attachment.  The copy goes to
a throw-away cluster (scripts/pg-cluster.sh); nowd started on it must serve the same records,
accept the application's client credentials and the attachment's content (copied into the
database); a REST message's password2 value opens with
the source's key (and not with another).  Skipped when PostgreSQL's server programs are not installed.
"""
import base64
import glob
import hashlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest
import requests

from conftest import BIN, PASSWORD, Server, free_port, nowctl, sqlite_only
from test_rest_message import Receiver

VENDOR_PASSWORD = "Vendor-" + os.urandom(6).hex()

ROOT = os.path.join(os.path.dirname(__file__), "../..")
CLUSTER = os.path.join(ROOT, "scripts/pg-cluster.sh")

pytestmark = [pytest.mark.skipif(not glob.glob("/usr/lib/postgresql/*/bin/initdb") and not shutil.which("initdb"),
                                 reason="PostgreSQL server programs not installed"),
              sqlite_only("its source is a SQLite data directory (migrate copies it to a cluster of its own)")]


@pytest.fixture(scope="module")
def cluster():
    d = tempfile.mkdtemp(prefix="sg-pg-")
    url = subprocess.run([CLUSTER, "start", d], check=True, capture_output=True, text=True).stdout.strip()
    yield url
    subprocess.run([CLUSTER, "stop", d], capture_output=True)
    shutil.rmtree(d, ignore_errors=True)


def database(url, name):
    """The cluster's URL naming another database (made by nowctl migrate when missing)."""
    return url.replace("///snowglobe?", f"///{name}?")


def migrate(*args, ok=True):
    r = subprocess.run([os.path.join(BIN, "nowctl"), "migrate", *args], capture_output=True, text=True)
    if ok:
        assert r.returncode == 0, (r.stdout, r.stderr)
    return r


class PgNode:
    """nowd on a PostgreSQL database, with the instance key from SNOWGLOBE_KEY."""

    def __init__(self, url, key_b64):
        self.dir = tempfile.mkdtemp(prefix="sg-bb-pg-")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(os.path.join(self.dir, "nowd.log"), "a+")
        env = dict(os.environ, SNOWGLOBE_KEY=key_b64, XDG_DATA_HOME=self.dir)  # its attachment cache
        self.proc = subprocess.Popen([os.path.join(BIN, "nowd"), "--db", url, "--port", str(self.port)],
                                     stdout=self.log, stderr=subprocess.STDOUT, env=env, cwd=self.dir)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                requests.get(self.url + "/api/now/table/sys_user", timeout=1)
                break
            except requests.ConnectionError:
                assert self.proc.poll() is None, self.output()
                time.sleep(0.1)
        self.s = requests.Session()
        self.s.auth = ("admin", PASSWORD)
        self.s.headers["Accept"] = "application/json"

    def get(self, path, **kw):
        return self.s.get(self.url + path, **kw)

    def output(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=30)
        out = self.output()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        assert code == 0, out[-4000:]
        assert "Sanitizer" not in out and "runtime error" not in out, out[-8000:]


def rows(node, table, **params):
    params.setdefault("sysparm_limit", "10000")
    params.setdefault("sysparm_query", "ORDERBYsys_id")
    params.setdefault("sysparm_exclude_reference_link", "true")  # links name the host and port
    r = node.get(f"/api/now/table/{table}", params=params)
    assert r.status_code == 200, r.text
    return r.json()["result"]


@pytest.fixture(scope="module")
def rx():
    r = Receiver()
    yield r
    r.close()


def rest_test(url, key_b64):
    """nowctl rest test on the database at url, offline, with the instance key key_b64."""
    return subprocess.run([os.path.join(BIN, "nowctl"), "--db", url, "rest", "test", "mig-msg", "Default GET"],
                          capture_output=True, text=True, env=dict(os.environ, SNOWGLOBE_KEY=key_b64))


@pytest.fixture(scope="module")
def source(rx):
    """A SQLite instance with everything a migration must carry, stopped (migrate is offline)."""
    s = Server()
    r = s.post("/api/now/table/sys_db_object", json={"name": "u_site_visit", "label": "Site visit"})
    assert r.status_code == 201, r.text
    for table, element, typ in (("u_site_visit", "u_notes", "string"), ("u_site_visit", "u_hours", "integer"),
                                ("incident", "u_vendor_ticket", "string")):
        r = s.post("/api/now/table/sys_dictionary",
                   json={"name": table, "element": element, "internal_type": typ, "column_label": element})
        assert r.status_code == 201, r.text
    r = s.post("/api/now/table/u_site_visit", json={"u_notes": "Rack 4 fan", "u_hours": "3"})
    assert r.status_code == 201, r.text
    inc = s.get("/api/now/table/incident", params={"sysparm_limit": "1"}).json()["result"][0]["sys_id"]
    r = s.patch(f"/api/now/table/incident/{inc}", json={"u_vendor_ticket": "VND-77"})
    assert r.status_code == 200 and r.json()["result"]["u_vendor_ticket"] == "VND-77", r.text
    nowctl(s, "user", "add", "mig_integration", "--web-service-only", "--role", "rest_service", "--role", "itil")
    nowctl(s, "scope", "add", "mig_api", "--api", "now/table")
    out = json.loads(nowctl(s, "--json", "oauth", "add", "Migrated app", "--grant", "client_credentials",
                            "--user", "mig_integration", "--scope", "mig_api",
                            "--client-type", "integration_service").stdout)
    s.set_property("glide.oauth.inbound.client.credential.grant_type.enabled", "true")
    # a REST message whose basic profile's password (password2) is sealed under the key
    r = s.post("/api/now/table/sys_auth_profile_basic", json={"name": "mig-prof", "username": "vendor-user",
                                                              "password": VENDOR_PASSWORD})
    assert r.status_code == 201 and VENDOR_PASSWORD not in r.text, r.text
    r = s.post("/api/now/table/sys_rest_message", json={
        "name": "mig-msg", "rest_endpoint": rx.url + "/vendor", "authentication_type": "basic",
        "basic_auth_profile": r.json()["result"]["sys_id"]})
    assert r.status_code == 201, r.text
    r = s.post("/api/now/attachment/file", data=b"migrated bytes\n", headers={"Content-Type": "text/plain"},
               params={"table_name": "incident", "table_sys_id": inc, "file_name": "note.txt"})
    assert r.status_code == 201, r.text
    s.app = (out["client_id"], out["client_secret"])
    s.incident = inc
    s.attachment = r.json()["result"]["sys_id"]
    # what the copy must equal, read before nowd stops
    s.expect = {t: rows(s, t) for t in ("incident", "u_site_visit", "sys_user", "oauth_entity", "sys_attachment",
                                        "sys_dictionary")}
    s.proc.send_signal(signal.SIGTERM)
    assert s.proc.wait(timeout=30) == 0
    with open(os.path.join(s.data, "keys/instance.key"), "rb") as f:
        s.key = base64.b64encode(f.read()).decode()
    yield s
    shutil.rmtree(s.dir, ignore_errors=True)


def test_migrated_instance_serves_the_same_records(source, cluster):
    url = database(cluster, "sg_migrated")
    r = migrate("--from", source.data, "--to", url)
    assert "row counts match" in r.stdout
    # every table's count printed, the key file named, the URL never printed with a password
    assert "u_site_visit" in r.stdout and "sg_generation" in r.stdout
    assert "keys/instance.key" in r.stdout and "SNOWGLOBE_KEY" in r.stdout
    assert "attachment content: 1 copied (files beside the source into the database)" in r.stdout
    node = PgNode(url, source.key)
    try:
        for table, want in source.expect.items():
            got = rows(node, table)
            assert len(got) == len(want), table
            for g, w in zip(got, want):
                assert g == w, (table, {k: (g.get(k), w.get(k)) for k in set(g) | set(w) if g.get(k) != w.get(k)})
        inc = node.get(f"/api/now/table/incident/{source.incident}").json()["result"]
        assert inc["u_vendor_ticket"] == "VND-77"
        # the custom table still takes records, numbered on from the copied counters
        r = node.s.post(node.url + "/api/now/table/u_site_visit", json={"u_notes": "after", "u_hours": "1"})
        assert r.status_code == 201, r.text
        r = node.s.post(node.url + "/api/now/table/incident", json={"short_description": "after migrate"})
        assert r.status_code == 201, r.text
        numbers = [x["number"] for x in source.expect["incident"]]
        assert r.json()["result"]["number"] not in numbers and r.json()["result"]["number"] > max(numbers)
        meta = node.get(f"/api/now/attachment/{source.attachment}").json()["result"]
        assert meta["file_name"] == "note.txt" and meta["size_bytes"] == "15"
        # its content, a file beside the SQLite database, is in the target's database now
        r = node.get(f"/api/now/attachment/{source.attachment}/file")
        assert r.status_code == 200 and r.content == b"migrated bytes\n"
        # the application's secret, sealed under the instance key, still matches
        cid, secret = source.app
        r = requests.post(node.url + "/oauth_token.do",
                          data=dict(grant_type="client_credentials", client_id=cid, client_secret=secret))
        assert r.status_code == 200, r.text
        tok = r.json()["access_token"]
        r = requests.get(node.url + "/api/now/table/incident", params={"sysparm_limit": "1"},
                         headers={"Authorization": f"Bearer {tok}"})
        assert r.status_code == 200 and len(r.json()["result"]) == 1
    finally:
        node.stop()


def test_sealed_secrets_open_with_the_source_key_only(source, cluster, rx):
    url = database(cluster, "sg_sealed")
    migrate("--from", source.data, "--to", url)
    basic = "Basic " + base64.b64encode(b"vendor-user:" + VENDOR_PASSWORD.encode()).decode()
    n = len(rx.requests)
    r = rest_test(url, source.key)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert len(rx.requests) == n + 1 and rx.last()["headers"]["authorization"] == basic
    # under another key the profile's password does not open: nothing is sent with it
    r = rest_test(url, base64.b64encode(os.urandom(32)).decode())
    assert r.returncode == 1 and len(rx.requests) == n + 1, (r.stdout, r.stderr)


def test_a_non_empty_target_is_refused_unless_forced(source, cluster):
    url = database(cluster, "sg_twice")
    migrate("--from", source.data, "--to", url)
    r = migrate("--from", source.data, "--to", url, ok=False)
    assert r.returncode == 1 and "--force" in r.stderr and "already holds" in r.stderr
    r = migrate("--from", source.data, "--to", url, "--force", "--json")
    out = json.loads(r.stdout)
    counts = {t["table"]: (t["source"], t["target"]) for t in out["tables"]}
    assert counts["task"][0] == counts["task"][1] >= len(source.expect["incident"])
    assert counts["u_site_visit"] == (1, 1)
    assert out["rows"] == sum(t["target"] for t in out["tables"])


def test_back_to_sqlite(source, cluster):
    """The reverse direction through the same code: PostgreSQL to a new SQLite file."""
    url = database(cluster, "sg_roundtrip")
    migrate("--from", source.data, "--to", url)
    d = tempfile.mkdtemp(prefix="sg-bb-back-")
    try:
        back = os.path.join(d, "back.db")
        r = migrate("--from", url, "--to", "sqlite:" + back, "--json")
        out = json.loads(r.stdout)
        assert out["table_count"] > 50
        # the content comes back out of the database into a file beside the new one
        assert out["attachment_content"] == {"copied": True, "files": 1, "missing": 0}
        digest = hashlib.sha256(b"migrated bytes\n").hexdigest()
        with open(os.path.join(d, "attachments", digest[:2], digest), "rb") as f:
            assert f.read() == b"migrated bytes\n"
        out = subprocess.run([os.path.join(BIN, "nowctl"), "--db", "sqlite:" + back, "--json", "table", "list", "u_site_visit"],
                             capture_output=True, text=True)
        assert out.returncode == 0 and "Rack 4 fan" in out.stdout, out.stderr
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_bad_sources_are_refused(cluster):
    d = tempfile.mkdtemp(prefix="sg-bb-none-")
    try:
        r = migrate("--from", os.path.join(d, "nothing"), "--to", database(cluster, "sg_never"), ok=False)
        assert r.returncode == 1 and "holds no instance" in r.stderr
        r = migrate("--from", "x", ok=False)
        assert r.returncode == 2
    finally:
        shutil.rmtree(d, ignore_errors=True)
