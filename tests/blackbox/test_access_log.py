"""The access log: one whole line per request, every request, even when many threads log at
once and the lines are held and written together."""
import re
import threading
import uuid

import requests

from conftest import PASSWORD

LINE = re.compile(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z info 127\.0\.0\.1 (\S+) "GET (\S+)" (\d{3}) \d+ \d+ms$')


def test_every_request_logged_once_on_a_whole_line(fresh):
    markers = [uuid.uuid4().hex for _ in range(8 * 60)]

    def run(part):
        s = requests.Session()
        s.auth = ("admin", PASSWORD)
        for m in part:
            assert s.get(fresh.url + "/api/now/table/sys_properties",
                         params={"sysparm_limit": "1", "sysparm_query": "name=" + m}).status_code == 200

    threads = [threading.Thread(target=run, args=(markers[i::8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # a refused request is logged too
    assert requests.get(fresh.url + "/api/now/table/incident", auth=("admin", "wrong")).status_code == 401
    lines = fresh.output().splitlines()
    seen = {}
    for line in lines:
        for m in re.findall(r"[0-9a-f]{32}", line):
            if m in markers:
                assert LINE.match(line), line
                seen[m] = seen.get(m, 0) + 1
    assert seen == {m: 1 for m in markers}
    assert any(LINE.match(line) and LINE.match(line).group(3) == "401" for line in lines)
