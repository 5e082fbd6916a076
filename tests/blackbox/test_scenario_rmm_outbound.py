"""Scenario 1's ServiceNow side (an RMM product, NinjaOne-style), end to end, as an admin following
the vendor's guide does it with nowctl, against a local stand-in of the product (Python's
http.server in a thread): an outbound OAuth provider with the product's client id and secret,
the API user, the closed states `6,7,8` as a system property, a REST message whose endpoint is
the product's base URL, "Get OAuth Token", and an after business rule on incident sending the
state change through executeAsync (durable) when an incident created by the API user becomes
6, 7 or 8.  Then: the bearer token arrives; an expired token is replaced after its 401; a 30 s
outage of the product and a SIGKILL of nowd lose nothing (order per incident kept); no secret
is in clear in the SQLite files, nowd's log or a REST answer.  And a token URL outside the
allow-list is refused with a clear message."""
import glob
import http.server
import json
import os
import secrets
import threading
import time
import urllib.parse

import pytest

from conftest import Server, as_user, free_port, nowctl, wait_for

CLIENT_SECRET = "Ninja-secret-" + secrets.token_hex(10)
API_USER, API_PASSWORD = "ninja.api", "Ninja-api-pass-" + secrets.token_hex(4)
DELIVERY_HEADER = "X-Snowglobe-Delivery-Id"
CLOSE = {"close_code": "Solved (Permanently)", "close_notes": "fixed by the RMM"}


class Product:
    """The stand-in product: a client_credentials token endpoint issuing expiring tokens it can
    revoke (expire_all), and an API receiving incident state changes that checks the bearer
    (401 for an unknown or expired one).  down() / up() make an outage on the same port;
    delay slows the API."""

    def __init__(self):
        self.client_id = "ninja-" + secrets.token_hex(6)
        self.lock = threading.Lock()
        self.tokens = {}  # token -> valid
        self.issued, self.grants = [], []
        self.got = []  # every API request: number, state, token, delivery id, status answered
        self.delay = 0.0
        self.port = free_port()
        self.httpd = None
        self.up()

    @property
    def base(self):
        return f"http://127.0.0.1:{self.port}"

    def up(self):
        product = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def reply(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                if self.path == "/ws/oauth/token":
                    form = dict(urllib.parse.parse_qsl(raw))
                    with product.lock:
                        product.grants.append(form.get("grant_type"))
                        if (form.get("client_id") != product.client_id
                                or form.get("client_secret") != CLIENT_SECRET):
                            return self.reply(401, {"error": "invalid_client"})
                        if form.get("grant_type") != "client_credentials":
                            return self.reply(400, {"error": "unsupported_grant_type"})
                        token = "ninja-at-" + secrets.token_hex(16)
                        product.tokens[token] = True
                        product.issued.append(token)
                    return self.reply(200, {"access_token": token, "token_type": "Bearer",
                                            "expires_in": 3600, "scope": form.get("scope", "")})
                if self.path.startswith("/v2/ticketing/servicenow/incident/"):
                    if product.delay:
                        time.sleep(product.delay)
                    auth = self.headers.get("Authorization", "")
                    token = auth[7:] if auth.startswith("Bearer ") else None
                    with product.lock:
                        ok = bool(token and product.tokens.get(token))
                        entry = {"path": self.path, "token": token, "status": 200 if ok else 401,
                                 "id": self.headers.get(DELIVERY_HEADER), "body": raw}
                        try:
                            entry.update(json.loads(raw))
                        except ValueError:
                            pass
                        product.got.append(entry)
                    if not ok:
                        return self.reply(401, {"error": "invalid_token"})
                    return self.reply(200, {"accepted": True})
                self.reply(404, {"error": "not found"})

        class Srv(http.server.ThreadingHTTPServer):
            allow_reuse_address = True
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # nowd killed mid-request: a broken pipe is expected

        self.httpd = Srv(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def down(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def expire_all(self):
        with self.lock:
            for t in self.tokens:
                self.tokens[t] = False

    def accepted(self):
        """(number, state) of every change accepted, in the order received."""
        with self.lock:
            return [(g["number"], g["state"]) for g in self.got if g["status"] == 200]


@pytest.fixture
def product():
    p = Product()
    yield p
    p.down()


def ctl(srv, *args, stdin=None, ok=True):
    """nowctl on srv's data directory, as the admin at the machine does it (nowd running)."""
    return nowctl(srv, *args, offline=True, ok=ok, stdin=stdin)


def create(srv, table, **fields):
    r = ctl(srv, "--json", "table", "create", table, *[f"{k}={v}" for k, v in fields.items()])
    return json.loads(r.stdout)["sys_id"]


RULE = """(function executeRule(current, previous) {
    var closed = String(gs.getProperty('x_ninjarmm.closed_states', '')).split(',');
    if (current.getValue('sys_created_by') != gs.getProperty('x_ninjarmm.api_user'))
        return;
    if (!current.state.changes() || closed.indexOf(current.getValue('state')) < 0)
        return;
    var m = new sn_ws.RESTMessageV2('NinjaOne', 'send state');
    m.setStringParameterNoEscape('sys_id', current.getUniqueValue());
    m.setStringParameterNoEscape('number', current.getValue('number'));
    m.setStringParameterNoEscape('state', current.getValue('state'));
    m.executeAsync();
})(current, previous);"""


def set_up(srv, product):
    """The guide's ServiceNow side, step by step, with nowctl only."""
    # faster retries than the defaults, for the test's time
    ctl(srv, "property", "set", "snowglobe.outbound.backoff_base_ms", "500")
    ctl(srv, "property", "set", "snowglobe.outbound.backoff_max_ms", "2000")
    ctl(srv, "property", "set", "snowglobe.outbound.max_attempts", "200")
    ctl(srv, "property", "set", "snowglobe.outbound.lease_seconds", "4")
    ctl(srv, "property", "set", "snowglobe.outbound.log", "true")
    # 1 + 3. the Application Registry entry: an outbound OAuth provider, the product's client
    # id, its secret pasted (stdin), client credentials, scope monitoring and management
    prov = json.loads(ctl(srv, "--json", "oauth", "provider", "NinjaOne", "--client-id", product.client_id,
                          "--token-url", product.base + "/ws/oauth/token", "--grant", "client_credentials",
                          "--scope", "monitoring", "--scope", "management",
                          stdin=CLIENT_SECRET + "\n").stdout)
    # 2. the dedicated API user
    ctl(srv, "user", "add", API_USER, "--password", API_PASSWORD, "--role", "itil", "--web-service-only")
    # 4. the configuration: product base URL (the REST message), API user, closed states
    ctl(srv, "property", "set", "x_ninjarmm.api_user", API_USER)
    ctl(srv, "property", "set", "x_ninjarmm.closed_states", "6,7,8")
    # 5. the REST message: endpoint = the product's base URL, OAuth 2.0 with the profile
    mid = create(srv, "sys_rest_message", name="NinjaOne", rest_endpoint=product.base,
                 authentication_type="oauth2", oauth2_profile=prov["profile"])
    fid = create(srv, "sys_rest_message_fn", rest_message=mid, function_name="send state",
                 http_method="post", rest_endpoint=product.base + "/v2/ticketing/servicenow/incident/${sys_id}",
                 content='{"number":"${number}","state":"${state}"}')
    create(srv, "sys_rest_message_fn_headers", rest_message_function=fid, name="Content-Type",
           value="application/json")
    for name, test in (("sys_id", "0" * 32), ("number", "INC0000000"), ("state", "6")):
        create(srv, "sys_rest_message_fn_param_defs", rest_message_function=fid, name=name, test_value=test)
    # "Get OAuth Token" proves the link
    got = json.loads(ctl(srv, "--json", "oauth", "get-token", "NinjaOne").stdout)
    assert got["expires_in"] == 3600 and set(got["scope"].split()) == {"monitoring", "management"}, got
    assert product.grants == ["client_credentials"] and len(product.issued) == 1
    # the rule: after update on incident, queued with executeAsync
    create(srv, "sys_script", name="NinjaOne closed-state sync", collection="incident", when="after",
           action_update="true", active="true", order="100", script=RULE)
    return prov


def api_incident(srv, text):
    """An incident created by the API user, over REST."""
    call = as_user(srv, API_USER, API_PASSWORD)
    r = call("POST", "/api/now/table/incident", json={"short_description": text})
    assert r.status_code == 201, r.text
    return r.json()["result"]


def move(srv, inc, state):
    body = {"state": state, **(CLOSE if state in ("6", "7") else {})}
    r = srv.patch(f"/api/now/table/incident/{inc['sys_id']}", json=body)
    assert r.status_code == 200, r.text


def queue_rows(srv, query):
    r = srv.get("/api/now/table/ecc_queue", params={"sysparm_query": query, "sysparm_limit": "1000"})
    assert r.status_code == 200, r.text
    return r.json()["result"]


def in_order(received, want):
    """want: {number: [states in order]}; each number's first receipts in that order (a repeat
    is allowed: delivery is at least once)."""
    first = {}
    for i, pair in enumerate(received):
        first.setdefault(pair, i)
    for number, states in want.items():
        pos = [first[(number, s)] for s in states]
        assert pos == sorted(pos), (number, states, received)


def no_secret_anywhere(srv, product):
    needles = [CLIENT_SECRET, API_PASSWORD, *product.issued]
    assert len(product.issued) >= 2
    blobs = []
    for path in glob.glob(os.path.join(srv.data, "instance.db*")):
        with open(path, "rb") as f:
            blobs.append((path, f.read()))
    blobs.append(("nowd log", srv.output().encode()))
    for table in ("oauth_entity", "oauth_entity_profile", "oauth_credential", "ecc_queue",
                  "sys_outbound_http_log", "sys_rest_message", "sys_user"):
        for dv in ("false", "true", "all"):
            r = srv.get(f"/api/now/table/{table}", params={"sysparm_display_value": dv,
                                                           "sysparm_limit": "10000"})
            assert r.status_code == 200, r.text
            blobs.append((table, r.content))
    for where, blob in blobs:
        for n in needles:
            assert n.encode() not in blob, (where, n[:10])


def test_rmm_closed_state_sync_end_to_end(product):
    srv = Server(demo=False)
    try:
        set_up(srv, product)
        token1 = product.issued[0]

        # -- what is sent, and what is not
        mine = [api_incident(srv, f"RMM alert {i}") for i in range(3)]
        other = srv.post("/api/now/table/incident", json={"short_description": "by the admin"}).json()["result"]
        move(srv, mine[0], "2")  # not a closed state: nothing
        move(srv, mine[0], "6")
        move(srv, mine[1], "7")
        move(srv, mine[2], "8")
        move(srv, other, "6")  # not created by the API user: nothing
        want = {(mine[0]["number"], "6"), (mine[1]["number"], "7"), (mine[2]["number"], "8")}
        assert wait_for(lambda: want <= set(product.accepted()), timeout=30), product.got
        time.sleep(2)
        assert set(product.accepted()) == want, product.got
        with product.lock:
            for g in product.got:
                assert g["token"] == token1 and g["id"], g
                assert g["path"] == "/v2/ticketing/servicenow/incident/" + next(
                    i["sys_id"] for i in mine if i["number"] == g["number"])
        # each delivery is a processed ecc_queue row keyed by its incident
        done = queue_rows(srv, "queue=output^state=processed")
        assert {r["order_key"] for r in done} == {"incident/" + i["sys_id"] for i in mine}
        assert {r["sys_id"] for r in done} == {g["id"] for g in product.got}
        # nothing moved to a non-closed state is sent even after that
        move(srv, mine[0], "2")

        # -- the product expires the token: 401, a new token, delivered
        product.expire_all()
        more = api_incident(srv, "after expiry")
        move(srv, more, "6")
        assert wait_for(lambda: (more["number"], "6") in product.accepted(), timeout=30), product.got
        assert product.grants == ["client_credentials", "client_credentials"]
        with product.lock:
            last = [g for g in product.got if g["number"] == more["number"]]
        assert [g["status"] for g in last] == [401, 200] and last[1]["token"] == product.issued[1]
        assert ctl(srv, "oauth", "token", "NinjaOne").returncode == 0

        # -- the product is down 30 s: nothing lost, delivered after in order per incident
        product.down()
        down_since = time.time()
        outage = [api_incident(srv, f"outage {i}") for i in range(3)]
        for inc in outage:
            move(srv, inc, "6")
        for inc in outage:
            move(srv, inc, "7")
        lone = api_incident(srv, "canceled in the outage")
        move(srv, lone, "8")
        keys = "^ORorder_key=".join("incident/" + i["sys_id"] for i in outage + [lone])
        assert wait_for(lambda: any(int(r["attempts"]) >= 1 and r["error_string"]
                                    for r in queue_rows(srv, "order_key=" + keys)), timeout=15)
        time.sleep(max(0, 30 - (time.time() - down_since)))
        waiting = queue_rows(srv, "order_key=" + keys)
        assert len(waiting) == 7 and all(r["state"] in ("ready", "processing") for r in waiting), waiting
        product.up()
        want = {i["number"]: ["6", "7"] for i in outage}
        want[lone["number"]] = ["8"]
        assert wait_for(lambda: all(r["state"] == "processed" for r in queue_rows(srv, "order_key=" + keys)),
                        timeout=60), queue_rows(srv, "order_key=" + keys)
        in_order(product.accepted(), want)

        # -- SIGKILL of nowd with deliveries queued: nothing lost after the restart
        product.delay = 0.3
        killed = [api_incident(srv, f"kill {i}") for i in range(4)]
        for state in ("6", "7"):
            for inc in killed:
                move(srv, inc, state)
        n0 = len(product.accepted())
        assert wait_for(lambda: len(product.accepted()) >= n0 + 2, timeout=20)
        srv.kill()
        assert len(product.accepted()) < n0 + 8, "everything was delivered before the kill"
        product.delay = 0.0
        srv.start()
        keys = "^ORorder_key=".join("incident/" + i["sys_id"] for i in killed)
        assert wait_for(lambda: all(r["state"] == "processed" for r in queue_rows(srv, "order_key=" + keys)),
                        timeout=60)
        in_order(product.accepted(), {i["number"]: ["6", "7"] for i in killed})
        assert not queue_rows(srv, "queue=output^state!=processed")

        # -- the outbound log has every request sent, the refused one too, masked
        log = srv.get("/api/now/table/sys_outbound_http_log", params={
            "sysparm_query": f"source_record={more['sys_id']}",
            "sysparm_fields": "response_status,request_headers,method,source_table"}).json()["result"]
        assert sorted(r["response_status"] for r in log) == ["200", "401"], log  # same second
        assert all("Bearer" in r["request_headers"] and r["source_table"] == "incident" for r in log)
        no_secret_anywhere(srv, product)
    finally:
        srv.stop()


def test_token_url_outside_allow_list_is_refused(product):
    srv = Server(demo=False)
    try:
        ctl(srv, "oauth", "provider", "NinjaOne", "--client-id", product.client_id,
            "--token-url", product.base + "/ws/oauth/token", "--grant", "client_credentials",
            stdin=CLIENT_SECRET + "\n")
        ctl(srv, "property", "set", "snowglobe.outbound.allowed_hosts", "app.ninjarmm.com")
        r = ctl(srv, "oauth", "get-token", "NinjaOne", ok=False)
        assert r.returncode == 1, (r.stdout, r.stderr)
        assert ("the Token URL of the OAuth provider NinjaOne is refused: host 127.0.0.1 is not in "
                "the allow-list (snowglobe.outbound.allowed_hosts)") in r.stderr, r.stderr
        assert product.grants == []  # nothing was sent
        ctl(srv, "property", "set", "snowglobe.outbound.allowed_hosts", "app.ninjarmm.com,127.0.0.1")
        ctl(srv, "oauth", "get-token", "NinjaOne")
        assert product.grants == ["client_credentials"]
    finally:
        srv.stop()
