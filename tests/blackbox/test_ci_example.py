"""The README's "Using nowd in CI" example, examples/ci/run.sh, run as a user would run it:
ephemeral instance, set-up, snapshot, frozen clock, an injected 503 the client retries through,
assertions with nowctl expect and the request journal, reset.  It must hold, and leave the
instance's data directory as it found it."""
import hashlib
import os
import subprocess
import tempfile

from conftest import BIN, free_port

HERE = os.path.dirname(__file__)
SCRIPT = os.path.join(HERE, "../../examples/ci/run.sh")


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_the_ci_example_runs_and_leaves_the_instance_as_it_was():
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, NOWD=os.path.join(BIN, "nowd"), NOWCTL=os.path.join(BIN, "nowctl"),
                   PORT=str(free_port()), DIR=d, NOWD_ADMIN_PASSWORD="Ci-admin-pass-1")
        env.pop("NOWCTL_INSTANCE", None)
        r = subprocess.run(["sh", SCRIPT], env=env, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, (r.stdout, r.stderr, open(os.path.join(d, "nowd.log")).read())
        assert "ci example: all assertions held" in r.stdout
        before = digest(os.path.join(d, "instance.db"))
        # A second run on the same directory: --ephemeral kept nothing of the first.
        r = subprocess.run(["sh", SCRIPT], env=env, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, (r.stdout, r.stderr)
        assert digest(os.path.join(d, "instance.db")) == before
        log = open(os.path.join(d, "nowd.log")).read()
        assert "ERROR: AddressSanitizer" not in log and "runtime error" not in log
