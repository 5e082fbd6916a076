"""What a new user meets first (issue 12): nowctl's messages and exit statuses when something is
wrong, which of a flag and the environment wins, --version of both programs, `make run`'s first
lines, and passing unit tests that say which of their errors are expected.
"""
import os
import re
import subprocess
import tempfile

import pytest

from conftest import BIN, PASSWORD, sqlite_only

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")


def run(*args, env=None, **kw):
    base = {k: v for k, v in os.environ.items() if not k.startswith("NOWCTL_")}
    base.update(env or {})
    return subprocess.run(args, capture_output=True, text=True, env=base, timeout=120, **kw)


def nowctl(*args, env=None):
    return run(os.path.join(BIN, "nowctl"), *args, env=env)


@pytest.mark.parametrize("prog", ["nowd", "nowctl"])
def test_version(prog):
    r = run(os.path.join(BIN, prog), "--version")
    assert r.returncode == 0, r.stderr
    assert re.fullmatch(prog + r" \d+\.\d+\.\d+\S*\n", r.stdout), r.stdout
    assert r.stderr == ""


def test_init_on_an_existing_instance_says_so(tmp_path):
    data = str(tmp_path / "data")
    env = {"NOWD_ADMIN_PASSWORD": PASSWORD}
    assert nowctl("init", "--data", data, env=env).returncode == 0
    r = nowctl("init", "--data", data, env=env)
    assert r.returncode == 1
    assert "INTERNAL" not in r.stderr
    assert f"{data} already holds an instance" in r.stderr
    assert "to start again, delete that folder" in r.stderr
    r = nowctl("init", "--db", f"sqlite:{data}/instance.db", env=env)
    assert r.returncode == 1 and "already holds an instance" in r.stderr and "INTERNAL" not in r.stderr


@sqlite_only("names the SQLite instance by --data DIR and sqlite:FILE")
def test_a_flag_wins_over_the_environment(server):
    """--data and --db are used although NOWCTL_INSTANCE (or NOWCTL_DATA) is exported."""
    data = server.data
    args = ("property", "get", "glide.sm.default_mode")
    r = nowctl("--data", data, *args, env={"NOWCTL_INSTANCE": "http://127.0.0.1:1"})
    assert r.returncode == 0, r.stderr
    r = nowctl("--db", f"sqlite:{data}/instance.db", *args, env={"NOWCTL_INSTANCE": "http://127.0.0.1:1"})
    assert r.returncode == 0, r.stderr
    r = nowctl("--db", f"sqlite:{data}/instance.db", *args, env={"NOWCTL_DATA": "/nonexistent"})
    assert r.returncode == 0, r.stderr
    r = nowctl("--instance", server.url, "--user", "admin", *args,
               env={"NOWCTL_DATA": "/nonexistent", "NOWCTL_PASSWORD": PASSWORD})
    assert r.returncode == 0, r.stderr
    # two places given by flags is still bad usage
    r = nowctl("--data", data, "--instance", server.url, *args)
    assert r.returncode == 2


def test_empty_or_missing_password_is_named_before_sending(server):
    r = nowctl("--instance", server.url, "--user", "admin", "role", "add", "x_new.role",
               env={"NOWCTL_PASSWORD": ""})
    assert r.returncode == 2
    assert "password for admin is empty" in r.stderr and "NOWCTL_PASSWORD" in r.stderr
    assert "401" not in r.stderr
    r = nowctl("--instance", server.url, "--user", "admin", "role", "add", "x_new.role")
    assert r.returncode == 2
    assert "no password for admin" in r.stderr and "NOWCTL_PASSWORD" in r.stderr
    # nothing was sent: the role does not exist
    rows = server.get("/api/now/table/sys_user_role", params={"name": "x_new.role"}).json()["result"]
    assert rows == []


def test_a_wrong_password_is_explained(server):
    r = nowctl("--instance", server.url, "--user", "admin", "property", "get", "glide.sm.default_mode",
               env={"NOWCTL_PASSWORD": "not-the-password"})
    assert r.returncode == 1
    assert "HTTP 401" in r.stderr
    assert "refused the user name and password" in r.stderr and "NOWCTL_PASSWORD" in r.stderr


def test_online_acl_add_explains_elevation(fresh):
    r = nowctl("--instance", fresh.url, "--user", "admin", "acl", "add", "task", "--operation", "read",
               "--role", "itil", env={"NOWCTL_PASSWORD": PASSWORD})
    assert r.returncode == 1
    assert "ACL Exception Insert Failed" in r.stderr  # ServiceNow's own words are kept
    assert "security_admin" in r.stderr
    assert "snowglobe.rest.allow_elevation" in r.stderr and "--data" in r.stderr
    # a refusal elsewhere gets no such hint
    r = nowctl("--instance", fresh.url, "--user", "admin", "table", "get", "incident", "0" * 32,
               env={"NOWCTL_PASSWORD": PASSWORD})
    assert r.returncode == 1 and "security_admin" not in r.stderr


def test_make_run_prints_the_real_password():
    """scripts/run.sh (make run): the first run's curl line carries the password init printed."""
    with tempfile.TemporaryDirectory(prefix="sg-run-") as d:
        data = os.path.join(d, "data")
        proc = subprocess.Popen(["sh", os.path.join(ROOT, "scripts", "run.sh"), BIN, data, "127.0.0.1", "1"],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env={k: v for k, v in os.environ.items() if k != "NOWD_ADMIN_PASSWORD"})
        out = []
        try:
            for line in proc.stdout:
                out.append(line)
                if line.startswith("Try: "):
                    break
        finally:
            proc.kill()
            proc.wait(timeout=30)
        text = "".join(out)
        m = re.search(r"^admin password \(shown once\): (\S+)$", text, re.M)
        assert m, text
        try_line = out[-1]
        assert "PASSWORD" not in try_line, text
        assert f"admin:{m.group(1)}" in try_line, text


def test_expected_errors_of_passing_unit_tests_are_marked():
    """Every warning or error a passing failure-injection test logs lies inside an
    'expected' frame; the disk I/O errors it injects are among them."""
    checked = 0
    for name in ("test_batch", "test_sqlite"):
        path = os.path.join(BIN, "..", "tests", "store", name)
        if not os.path.exists(path):
            continue
        r = run(path)
        assert r.returncode == 0, r.stdout + r.stderr
        inside = False
        for line in r.stderr.splitlines():
            if line.startswith("-- expected:"):
                inside = True
            elif line.startswith("-- end of expected errors"):
                inside = False
            elif re.search(r"\b(warn|error)\b", line):
                assert inside, f"{name}: an error outside an expected frame: {line}"
                checked += 1
    if not checked:
        pytest.skip("the store unit tests are not built next to " + BIN)
