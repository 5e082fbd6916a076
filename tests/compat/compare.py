#!/usr/bin/python3
"""Replays one URL x user corpus against two builds of nowd and compares every response.

    /usr/bin/python3 tests/compat/compare.py --old DIR --new DIR [--keep] [--verbose]
    /usr/bin/python3 tests/compat/compare.py --self-test

DIR holds nowd and nowctl (e.g. build/release/bin).  One instance is made with the OLD nowctl
(demo data, then the set-up in setup()), copied twice, and served by the old nowd on copy A and
the new nowd on copy B with the same flags.  Each request of corpus.py goes to A, then the same
request to B; status line, headers (in order; Date's value aside) and body bytes are compared
after the normalisation described in normalise.py.  Exit 0 when every response is identical,
1 otherwise, 2 on a usage or set-up error.  README.md says more.
"""
import argparse
import collections
import difflib
import http.client
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import zoneinfo
import datetime

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import corpus  # noqa: E402
from normalise import Normaliser, Window, known_ids_in  # noqa: E402

ADMIN_PASSWORD = "Compat-admin-1"
PASSWORD = "Compat-pass-12"
BASE_URL = "https://compat.example.service-now.com"
HOST = "compat.example.service-now.com"
TIME_ZONES = ("UTC", "Europe/Amsterdam", "America/New_York")
NOWD_FLAGS = ["--threads", "2", "--base-url", BASE_URL]


class SetupError(Exception):
    pass


# ---- set-up with the old nowctl, offline ------------------------------------------------------

def nowctl(bindir, data, *args, check=True):
    r = subprocess.run([os.path.join(bindir, "nowctl"), "--data", data, *args],
                       capture_output=True, text=True)
    if check and r.returncode != 0:
        raise SetupError(f"nowctl {' '.join(args)}: exit {r.returncode}: {r.stderr.strip()}")
    return r


def setup(bindir, data, golden_dir):
    """Creates the instance every run starts from.  Returns the facts the corpus needs."""
    env = dict(os.environ, NOWD_ADMIN_PASSWORD=ADMIN_PASSWORD)
    r = subprocess.run([os.path.join(bindir, "nowctl"), "init", "--data", data, "--demo"],
                       capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise SetupError("nowctl init: " + r.stderr.strip())

    def n(*args):
        return nowctl(bindir, data, *args)

    for name, value in [
        ("glide.oauth.inbound.client.credential.grant_type.enabled", "true"),
        ("glide.rest.max_content_length", str(corpus.MAX_BODY)),
        ("snowglobe.rest.allow_elevation", "true"),
    ]:
        n("property", "set", name, value)
    n("role", "add", "x_compat.reader", "--description", "Reads companies and active incidents")
    users = [
        ("compat.itil", ["--first", "Ida", "--last", "Itil", "--email", "ida@example.com", "--role", "itil"]),
        ("compat.norole", ["--first", "Nora", "--last", "Nobody"]),
        ("compat.ws", ["--web-service-only", "--role", "rest_service", "--role", "itil"]),
        ("compat.reader", ["--first", "Rea", "--last", "Der", "--role", "x_compat.reader"]),
        ("compat.tz", ["--first", "Tim", "--last", "Zone", "--role", "admin"]),
        ("compat.lockme", ["--role", "itil"]),
        ("compat.inactive", ["--inactive", "--role", "itil"]),
        ("compat.oauth", ["--machine", "--role", "itil"]),
    ]
    for name, extra in users:
        n("user", "add", name, "--password", PASSWORD, *extra)
    n("user", "add", "compat.svc", "--web-service-only", "--role", "rest_service", "--role", "itil")
    n("user", "set", "compat.itil", "time_zone=Europe/Amsterdam")
    n("user", "set", "compat.tz", "time_zone=America/New_York")
    n("group", "add", "Compat Group", "--description", "Readers", "--manager", "compat.itil")
    n("member", "add", "--group", "Compat Group", "--user", "compat.reader")
    n("role", "grant", "cmdb_read", "--group", "Compat Group")
    n("acl", "add", "core_company", "--operation", "read", "--role", "x_compat.reader")
    n("acl", "add", "incident", "--operation", "read", "--role", "x_compat.reader",
      "--condition", "active=true")
    n("acl", "add", "sys_user.email", "--operation", "read", "--role", "admin")
    n("scope", "add", "compat_table", "--api", "now/table")
    apps = {}
    for key, name, extra in [
        ("pw", "Compat Password", ["--grant", "password", "--scope", "useraccount"]),
        ("cc", "Compat Service", ["--grant", "client_credentials", "--user", "compat.svc",
                                  "--scope", "compat_table"]),
        ("open", "Compat Open", ["--grant", "client_credentials", "--user", "compat.svc"]),
        ("off", "Compat Disabled", ["--grant", "client_credentials", "--user", "compat.svc",
                                    "--inactive"]),
    ]:
        out = json.loads(n("--json", "oauth", "add", name, *extra).stdout)
        apps[key] = (out["client_id"], out["client_secret"])
    load_golden(bindir, data, golden_dir)
    return {"apps": apps, "ids": read_ids(os.path.join(data, "instance.db"))}


def load_golden(bindir, data, golden_dir):
    """The golden query dataset (tests/golden/query), loaded through the old nowctl."""
    with open(os.path.join(golden_dir, "dataset.json")) as f:
        ds = json.load(f)
    for table in ("sys_db_object", "sys_dictionary", "sys_choice"):
        for row in ds["schema"][table]:
            nowctl(bindir, data, "table", "create", table, *(f"{k}={v}" for k, v in row.items()))
    for table, row in ds["records"]:
        if row.get("sys_id") == corpus.ADMIN_ID:
            continue
        nowctl(bindir, data, "table", "create", table, *(f"{k}={v}" for k, v in row.items()))


def read_ids(db):
    """Known sys_ids by a readable key, and every id the data directory holds."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        q = lambda sql: con.execute(sql).fetchall()  # noqa: E731
        ids = {
            "task": {num: sid for sid, num in q("SELECT sys_id, number FROM task")},
            "user": {n: sid for sid, n in q("SELECT sys_id, user_name FROM sys_user")},
            "group": {n: sid for sid, n in q("SELECT sys_id, name FROM sys_user_group")},
            "company": {n: sid for sid, n in q("SELECT sys_id, name FROM core_company")},
            "ci": {n: sid for sid, n in q("SELECT sys_id, name FROM cmdb_ci")},
            "property": {n: sid for sid, n in q("SELECT sys_id, name FROM sys_properties")},
            "golden": {k: sid for sid, k in q("SELECT sys_id, u_key FROM u_golden")},
            "dictionary": q("SELECT sys_id FROM sys_dictionary WHERE name='task' "
                            "AND element='short_description'")[0][0],
        }
        known = set()
        for (table,) in q("SELECT name FROM sqlite_master WHERE type='table'"):
            for row in con.execute(f'SELECT * FROM "{table}"'):
                for v in row:
                    if isinstance(v, str):
                        known |= known_ids_in(v)
        ids["known"] = known
        return ids
    finally:
        con.close()


# ---- the two servers --------------------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Side:
    def __init__(self, name, bindir, data, logdir):
        self.name, self.bindir, self.data = name, bindir, data
        self.port = free_port()
        self.log = open(os.path.join(logdir, f"nowd-{name}.log"), "w+")
        self.proc = subprocess.Popen(
            [os.path.join(bindir, "nowd"), "--data", data, "--port", str(self.port), *NOWD_FLAGS],
            stdout=self.log, stderr=subprocess.STDOUT)
        self.vars = {}
        self.norm = None
        self.exit_code = None

    def wait_ready(self):
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
        raise SetupError(f"nowd ({self.name}) did not start: " + self.output()[-2000:])

    def output(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.exit_code = self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.exit_code = self.proc.wait()
        else:
            self.exit_code = self.proc.returncode
        self.log.close()


def substitute(text, vars_):
    """{{name}} replaced by this side's value of name (MISSING-name when it has none)."""
    if isinstance(text, bytes):
        return substitute(text.decode("latin-1"), vars_).encode("latin-1")
    while "{{" in text:
        start = text.index("{{")
        end = text.index("}}", start)
        name = text[start + 2:end]
        text = text[:start] + vars_.get(name, "MISSING-" + name) + text[end + 2:]
    return text


def send(side, req):
    """Sends one request on a new connection; the response as a dict."""
    path = substitute(req.path, side.vars)
    headers = [(k, substitute(v, side.vars)) for k, v in req.headers(side.vars)]
    body = substitute(req.body, side.vars) if req.body is not None else None
    conn = http.client.HTTPConnection("127.0.0.1", side.port, timeout=30)
    try:
        conn.putrequest(req.method, path, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", HOST)
        for k, v in headers:
            conn.putheader(k, v)
        if body is not None and req.content_length:
            conn.putheader("Content-Length", str(len(body)))
        conn.putheader("Connection", "close")
        try:
            if req.chunked:
                conn.endheaders(iter([body[i:i + 8192] for i in range(0, len(body), 8192)]),
                                encode_chunked=True)
            else:
                conn.endheaders(body)
        except OSError:
            pass  # the server may answer (413) and close before the whole body is sent
        r = conn.getresponse()
        version = {10: "HTTP/1.0", 11: "HTTP/1.1"}.get(r.version, str(r.version))
        return {"status_line": f"{version} {r.status} {r.reason}", "status": r.status,
                "headers": list(r.getheaders()), "body": r.read()}
    except (OSError, http.client.HTTPException) as e:
        return {"status_line": f"NO RESPONSE ({type(e).__name__})", "status": 0,
                "headers": [], "body": b""}
    finally:
        conn.close()


def capture(side, req, resp):
    if req.path.startswith("/oauth_token.do") and resp["status"] == 200:
        side.norm.register_tokens(resp["body"])
    for name, fn in (req.captures or {}).items():
        try:
            value = fn(json.loads(resp["body"]), resp)
        except (ValueError, KeyError, IndexError, TypeError):
            value = None
        if isinstance(value, str):
            side.vars[name] = value


# ---- report -----------------------------------------------------------------------------------

def render(resp, limit=None):
    lines = [resp["status_line"]] + [f"{k}: {v}" for k, v in resp["headers"]] + [""]
    body = resp["body"]
    try:
        pretty = json.dumps(json.loads(body), indent=1, ensure_ascii=False).splitlines()
    except (ValueError, UnicodeDecodeError):
        pretty = body.decode("latin-1").splitlines() or [""]
    lines += pretty
    if limit and len(lines) > limit:
        lines = lines[:limit] + [f"... ({len(lines) - limit} more lines)"]
    return lines


def describe(req):
    out = f"{req.method} {req.path}  [as {req.user or 'nobody'}]"
    if req.extra_headers:
        out += "  " + " ".join(f"{k}: {v[:60]}" for k, v in req.extra_headers)
    if req.body is not None:
        shown = req.body[:160].decode("latin-1")
        out += f"\n    body ({len(req.body)} bytes): {shown}{'...' if len(req.body) > 160 else ''}"
    return out


def report_difference(i, req, na, nb, verbose):
    print(f"--- difference at request {i}: {describe(req)}")
    a, b = render(na), render(nb)
    for line in difflib.unified_diff(a, b, "old", "new", n=3, lineterm=""):
        print("    " + line)
    if verbose:
        print("    old response:")
        for line in render(na, 60):
            print("      " + line)
        print("    new response:")
        for line in render(nb, 60):
            print("      " + line)


# ---- main -------------------------------------------------------------------------------------

def offsets_now():
    now = datetime.datetime.now(datetime.timezone.utc)
    return [int(now.astimezone(zoneinfo.ZoneInfo(z)).utcoffset().total_seconds()) for z in TIME_ZONES]


def copy_binaries(src, dst, patch):
    """A copy of src's nowd and nowctl in dst, nowd with one byte string replaced (same length):
    a deliberately different build, to see the comparison fail."""
    os.makedirs(dst)
    for prog in ("nowd", "nowctl"):
        shutil.copy2(os.path.join(src, prog), os.path.join(dst, prog))
    old, new = patch.split("=", 1)
    if len(old) != len(new):
        raise SetupError("--patch-new: both sides of = must have the same length")
    path = os.path.join(dst, "nowd")
    with open(path, "rb") as f:
        exe = f.read()
    if old.encode() not in exe:
        raise SetupError(f"--patch-new: {old!r} is not in nowd")
    with open(path, "wb") as f:
        f.write(exe.replace(old.encode(), new.encode()))


def run(args):
    root = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "../.."))
    old_bin, new_bin = os.path.abspath(args.old), os.path.abspath(args.new)
    for d in (old_bin, new_bin):
        for prog in ("nowd", "nowctl"):
            if not os.access(os.path.join(d, prog), os.X_OK):
                raise SetupError(f"{d}/{prog}: not an executable")
    tmp = tempfile.mkdtemp(prefix="sg-compat-")
    sides = []
    started = time.time()
    try:
        if args.patch_new:
            copy_binaries(new_bin, os.path.join(tmp, "patched"), args.patch_new)
            new_bin = os.path.join(tmp, "patched")
        seed = os.path.join(tmp, "seed")
        facts = setup(old_bin, seed, os.path.join(root, "tests/golden/query"))
        for name in ("a", "b"):
            shutil.copytree(seed, os.path.join(tmp, name))
        sides = [Side("old", old_bin, os.path.join(tmp, "a"), tmp),
                 Side("new", new_bin, os.path.join(tmp, "b"), tmp)]
        for s in sides:
            s.wait_ready()
        # Everything in the data directory is older than the run's first second.
        t0 = int(time.time()) + 1
        while time.time() < t0:
            time.sleep(0.02)
        window = Window(t0, offsets_now())
        for s in sides:
            s.norm = Normaliser(facts["ids"]["known"], window)
        requests = corpus.build(facts, ADMIN_PASSWORD, PASSWORD)
        setup_s = time.time() - started
        same = differ = 0
        statuses = collections.Counter()
        transcript = open(args.transcript, "w") if args.transcript else None
        for i, req in enumerate(requests, 1):
            responses = []
            for s in sides:
                resp = send(s, req)
                capture(s, req, resp)
                responses.append(resp)
            na = sides[0].norm.response(responses[0])
            nb = sides[1].norm.response(responses[1])
            statuses[responses[0]["status"]] += 1
            if transcript:
                transcript.write(f"=== {i}: {describe(req)}\n")
                transcript.write("\n".join(render(na, 40)) + "\n")
            if na == nb:
                same += 1
            else:
                differ += 1
                if differ <= args.max_report:
                    report_difference(i, req, na, nb, args.verbose)
        window.close(time.time())
        if transcript:
            transcript.close()
        for s in sides:
            s.stop()
        codes = [s.exit_code for s in sides]
        if codes[0] != codes[1] or codes[0] != 0:
            print(f"--- nowd exit status after SIGTERM: old {codes[0]}, new {codes[1]}")
            differ += codes[0] != codes[1]
        if differ > args.max_report:
            print(f"--- ({differ - args.max_report} more differences not shown)")
        print("compat: statuses " + " ".join(f"{k}x{v}" for k, v in sorted(statuses.items())))
        print(f"compat: {len(requests)} requests, {same} identical, {differ} differ "
              f"(set-up {setup_s:.1f} s, total {time.time() - started:.1f} s)")
        return 1 if differ else 0
    finally:
        for s in sides:
            if s.exit_code is None:
                s.stop()
        if args.keep:
            print(f"compat: kept {tmp} (seed, a = old, b = new, nowd-*.log)")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--old", help="directory with the baseline nowd and nowctl")
    ap.add_argument("--new", help="directory with the nowd (and nowctl) under test")
    ap.add_argument("--keep", action="store_true", help="keep the data directories and logs")
    ap.add_argument("--verbose", action="store_true", help="print both responses of a difference")
    ap.add_argument("--transcript", metavar="FILE",
                    help="write every request and its (normalised) old response to FILE")
    ap.add_argument("--max-report", type=int, default=50, help="differences printed in full")
    ap.add_argument("--patch-new", metavar="OLD=NEW",
                    help="replace a byte string in a copy of the new nowd (a deliberately "
                         "different build; the run must then fail)")
    ap.add_argument("--self-test", action="store_true", help="check the normaliser and exit")
    args = ap.parse_args()
    if args.self_test:
        import selftest
        return selftest.main()
    if not args.old or not args.new:
        ap.error("--old and --new are required")
    try:
        return run(args)
    except SetupError as e:
        print(f"compat: set-up failed: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
