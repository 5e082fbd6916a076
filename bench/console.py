#!/usr/bin/python3
"""The console's page load, measured in Debian's headless Chromium (issue 20).

Starts a nowd with demo data (build/release/bin unless NOWD_BIN says otherwise), tops the
incidents up to --incidents, signs in through /login.do and loads each page --loads times
after one warm-up load: the figure is the time from the start of navigation to the view drawn
(app.js's performance mark "sg-ready", set once a route has rendered), median and range.
Pages: /incident_list.do as admin and as an itil user (20 rows a page, columns from
/api/now/ui/meta), and an incident's form (/incident.do?sys_id=...).  Measured, never asserted.

    /usr/bin/python3 bench/console.py [--incidents 100] [--loads 20]

Needs python3-selenium, chromium and chromium-driver (scripts/install-deps.sh).
"""
import argparse
import importlib.util
import os
import statistics
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
os.environ.setdefault("NOWD_BIN", os.path.join(ROOT, "build", "release", "bin"))


def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.path.insert(0, os.path.dirname(path))
    spec.loader.exec_module(mod)
    return mod


def measure(driver, url, loads):
    """[ms from navigation start to drawn] for loads loads after one warm-up, and the
    number of API requests the last one made."""
    times = []
    for i in range(loads + 1):
        driver.get(url)
        driver.sg_wait(lambda d: d.execute_script("return document.body.getAttribute('data-sg-ready')") is not None)
        t = driver.execute_script("const m = performance.getEntriesByName('sg-ready')[0];"
                                  "return m ? m.startTime : null")
        if t is None:
            raise RuntimeError("no sg-ready mark on " + url)
        if i:
            times.append(t)
    calls = driver.execute_script("return performance.getEntriesByType('resource')"
                                  ".filter(e => e.name.includes('/api/')).length")
    return times, calls


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--incidents", type=int, default=100)
    ap.add_argument("--loads", type=int, default=20)
    args = ap.parse_args()

    bb = load("sg_blackbox_conftest", os.path.join(ROOT, "tests", "blackbox", "conftest.py"))
    br = load("sg_browser_conftest", os.path.join(ROOT, "tests", "browser", "conftest.py"))
    from selenium.webdriver.support.ui import WebDriverWait

    server = bb.Server()
    driver = None
    try:
        have = len(server.get("/api/now/table/incident", params={"sysparm_fields": "sys_id"}).json()["result"])
        for i in range(max(0, args.incidents - have)):
            r = server.post("/api/now/table/incident", json={"short_description": f"Console bench {i:04d}"})
            assert r.status_code == 201, r.text
        total = max(have, args.incidents)
        inc = server.get("/api/now/table/incident", params={"sysparm_limit": "1", "sysparm_fields": "sys_id"})
        sys_id = inc.json()["result"][0]["sys_id"]
        bb.nowctl(server, "user", "add", "itil.bench", "--password", "Itil-bench-1234")
        bb.nowctl(server, "role", "grant", "itil", "--user", "itil.bench")

        rows = []
        for user, password, pages in (
                ("admin", bb.PASSWORD, [("list", "/incident_list.do"), ("form", f"/incident.do?sys_id={sys_id}")]),
                ("itil.bench", "Itil-bench-1234", [("list", "/incident_list.do"),
                                                   ("form", f"/incident.do?sys_id={sys_id}")])):
            driver = br.new_driver()
            driver.sg_wait = lambda cond, d=driver: WebDriverWait(d, 15, poll_frequency=0.01).until(cond)
            br.sign_in(driver, server, user=user, password=password)
            for what, path in pages:
                times, calls = measure(driver, server.url + path, args.loads)
                rows.append((f"{what} as {user}", path.split("?")[0], times, calls))
            br.quit_driver(driver)
            driver = None

        print(f"nowd {os.environ['NOWD_BIN']}, {total} incidents, headless Chromium 1366x900, "
              f"navigation start to drawn (performance mark sg-ready), {args.loads} loads after one warm-up")
        print(f"{'page':<22} {'path':<20} {'median ms':>9} {'min':>6} {'max':>6} {'API calls':>9}")
        for what, path, times, calls in rows:
            print(f"{what:<22} {path:<20} {statistics.median(times):9.0f} {min(times):6.0f} "
                  f"{max(times):6.0f} {calls:9d}")
    finally:
        if driver is not None:
            br.quit_driver(driver)
        server.stop()


if __name__ == "__main__":
    main()
