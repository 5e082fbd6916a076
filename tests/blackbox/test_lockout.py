"""Lock-out after failed logins (reference 4.1; issue 12, defect 5).

glide.user.max_unlock_attempts failures lock a user; no attempt after the lock, the right password
included, succeeds until glide.user.unlock_timeout_in_mins (15 by default) have passed or an admin
unlocks it (`nowctl user unlock`).  The lock is logged as a warning naming the user.
"""
import datetime
import os
import subprocess
import threading

import requests

from conftest import BIN, nowctl

GOOD = "Victim-pass-1"
URL = "/api/now/table/incident?sysparm_limit=1"


def attempt(server, name, password):
    return requests.get(server.url + URL, auth=(name, password), headers={"Accept": "application/json"}).status_code


def user(server, name):
    r = server.get("/api/now/table/sys_user", params={"user_name": name})
    return r.json()["result"][0]


def ago(minutes):
    t = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=minutes)
    return t.strftime("%Y-%m-%d %H:%M:%S")


def lock(server, name):
    for _ in range(5):
        assert attempt(server, name, "not-the-password") == 401
    assert attempt(server, name, GOOD) == 401
    u = user(server, name)
    assert u["locked_out"] == "true" and u["failed_attempts"] == "5"


def burst(server, name, wrong=39):
    """wrong parallel wrong guesses; the right password is sent, mid-burst, once
    max_unlock_attempts (5) of them have been answered 401: their failures are counted by
    then, so the account is locked and the right password must be refused."""
    refused = 0
    cond = threading.Condition()
    start = threading.Barrier(wrong)
    codes = []

    def guess(i):
        nonlocal refused
        start.wait()
        code = attempt(server, name, f"wrong-{i}")
        with cond:
            codes.append(code)
            refused += code == 401
            cond.notify_all()

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(wrong)]
    for t in threads:
        t.start()
    with cond:
        assert cond.wait_for(lambda: refused >= 5, timeout=120)
    right = attempt(server, name, GOOD)
    for t in threads:
        t.join()
    assert codes == [401] * wrong
    return right


def test_parallel_guesses_never_beat_the_lockout(fresh):
    nowctl(fresh, "user", "add", "victim", "--password", GOOD, "--role", "itil")
    assert attempt(fresh, "victim", GOOD) == 200
    for trial in range(5):
        # reset with user set (present before nowctl user unlock existed)
        nowctl(fresh, "user", "set", "victim", "locked_out=false", "failed_attempts=0")
        assert attempt(fresh, "victim", GOOD) == 200
        assert burst(fresh, "victim") == 401, f"the right password was accepted in trial {trial}"
        u = user(fresh, "victim")
        assert u["locked_out"] == "true", trial
        # attempts on a locked account are refused without being counted
        assert u["failed_attempts"] == "5", trial


def test_lockout_is_logged_and_unlocks_after_the_timeout(fresh):
    nowctl(fresh, "user", "add", "victim", "--password", GOOD, "--role", "itil")
    lock(fresh, "victim")
    out = fresh.output()
    warn = [l for l in out.splitlines() if " warn " in l and "locked out" in l]
    assert len(warn) == 1 and "victim" in warn[0] and "nowctl user unlock victim" in warn[0], out[-2000:]
    assert "not-the-password" not in out and GOOD not in out
    u = user(fresh, "victim")
    locked_on = datetime.datetime.strptime(u["locked_out_on"], "%Y-%m-%d %H:%M:%S")
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    assert abs((now - locked_on).total_seconds()) < 120

    # The lock time is data: moved back, the default 15 minutes pass at once.
    def lock_time(when):
        r = fresh.patch(f"/api/now/table/sys_user/{u['sys_id']}", json={"locked_out_on": when})
        assert r.status_code == 200

    lock_time(ago(14))
    assert attempt(fresh, "victim", GOOD) == 401
    lock_time(ago(16))
    assert attempt(fresh, "victim", GOOD) == 200
    u = user(fresh, "victim")
    assert (u["locked_out"], u["failed_attempts"], u["locked_out_on"]) == ("false", "0", "")

    # A wrong password after the timeout unlocks too, and counts from zero.
    fresh.set_property("glide.user.unlock_timeout_in_mins", "1")
    lock(fresh, "victim")
    lock_time(ago(1.1))
    assert attempt(fresh, "victim", "still-wrong") == 401
    u = user(fresh, "victim")
    assert (u["locked_out"], u["failed_attempts"], u["locked_out_on"]) == ("false", "1", "")
    assert attempt(fresh, "victim", GOOD) == 200

    # 0: no timeout, only an admin unlocks; an admin's own lock (no lock time) does not expire.
    fresh.set_property("glide.user.unlock_timeout_in_mins", "0")
    lock(fresh, "victim")
    lock_time(ago(600))
    assert attempt(fresh, "victim", GOOD) == 401
    fresh.set_property("glide.user.unlock_timeout_in_mins", "15")
    nowctl(fresh, "user", "unlock", "victim")
    nowctl(fresh, "user", "set", "victim", "locked_out=true")
    assert attempt(fresh, "victim", GOOD) == 401


def test_nowctl_user_unlock(fresh):
    nowctl(fresh, "user", "add", "victim", "--password", GOOD, "--role", "itil")
    lock(fresh, "victim")
    r = nowctl(fresh, "user", "unlock", "victim")
    assert "unlocked user victim" in r.stdout
    u = user(fresh, "victim")
    assert (u["locked_out"], u["failed_attempts"], u["locked_out_on"]) == ("false", "0", "")
    assert attempt(fresh, "victim", GOOD) == 200
    # Offline, beside the running server.
    lock(fresh, "victim")
    nowctl(fresh, "user", "unlock", "victim", offline=True)
    assert attempt(fresh, "victim", GOOD) == 200
    r = nowctl(fresh, "user", "unlock", "nobody-such", ok=False)
    assert r.returncode == 1 and "no sys_user 'nobody-such'" in r.stderr
    assert nowctl(fresh, "user", "unlock", ok=False).returncode == 2
    help_text = subprocess.run([os.path.join(BIN, "nowctl"), "--help"], capture_output=True, text=True)
    assert "user unlock NAME" in help_text.stdout + help_text.stderr


def test_locked_out_admin_gets_back_in(fresh):
    """README: five unauthenticated requests lock admin; the way back is offline."""
    for _ in range(5):
        assert attempt(fresh, "admin", "guess") == 401
    assert fresh.get(URL).status_code == 401
    nowctl(fresh, "user", "unlock", "admin", offline=True)
    assert fresh.get(URL).status_code == 200
