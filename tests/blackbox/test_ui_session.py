"""The browser console's session rules over plain HTTP (issue 20): sign-in and the cookie,
the id rotated at each sign-in, sign-out on the server, the CSRF token on every change and
every API call through the cookie, idle expiry, refused accounts, safe redirects, the pages'
headers and the static files' limits."""
import os
import re
import shutil
import tempfile
import urllib.parse
import uuid

import pytest
import requests

from conftest import PASSWORD, Server

MSG_INVALID = "User name or password invalid."


@pytest.fixture(scope="module")
def server():
    s = Server()
    yield s
    s.stop()


def make_user(server, roles=("itil",), **fields):
    name = "uis." + uuid.uuid4().hex[:10]
    body = {"user_name": name, "user_password": PASSWORD, "first_name": "UI", "last_name": name}
    body.update(fields)
    r = server.post("/api/now/table/sys_user", json=body)
    assert r.status_code == 201, r.text
    uid = r.json()["result"]["sys_id"]
    for role in roles:
        assert server.post("/api/now/table/sys_user_has_role", json={"user": uid, "role": role}).status_code == 201
    return name, uid


def browser(server):
    s = requests.Session()
    s.verify = server.verify
    return s


def sign_in(server, user="admin", password=PASSWORD, goto="", s=None):
    """A requests session signed in through the form: (session, sysparm_ck)."""
    s = s or browser(server)
    r = s.post(server.url + "/login.do", allow_redirects=False,
               data={"user_name": user, "user_password": password, "sysparm_goto": goto})
    assert r.status_code == 302, r.text
    page = s.get(server.url + "/navpage.do", allow_redirects=False)
    assert page.status_code == 200
    return s, re.search(r'name="sg-ck" content="([^"]+)"', page.text).group(1)


def login_message(r):
    m = re.search(r'id="sg-login-message"[^>]*>([^<]*)<', r.text)
    return m.group(1) if m else None


def api(s, server, method, path, ck=None, **kw):
    headers = {"Accept": "application/json"}
    if ck is not None:
        headers["X-UserToken"] = ck
    return s.request(method, server.url + path, headers=headers, allow_redirects=False, **kw)


def test_sign_in_sets_the_cookie_and_goes_where_asked(server):
    s = browser(server)
    r = s.post(server.url + "/login.do", allow_redirects=False,
               data={"user_name": "admin", "user_password": PASSWORD,
                     "sysparm_goto": "/incident.do?sys_id=-1"})
    assert r.status_code == 302 and r.headers["Location"] == "/incident.do?sys_id=-1"
    cookie = r.headers["Set-Cookie"]
    assert re.match(r"JSESSIONID=[A-Za-z0-9_-]{43}; ", cookie)
    parts = [p.strip() for p in cookie.split(";")]
    assert "HttpOnly" in parts and "SameSite=Lax" in parts and "Path=/" in parts
    assert "Secure" not in parts


@pytest.mark.parametrize("goto", ["//evil.example/x", "https://evil.example/", "/\\evil.example",
                                  "javascript:alert(1)", "/a b"])
def test_sign_in_never_goes_off_site(server, goto):
    r = browser(server).post(server.url + "/login.do", allow_redirects=False,
                             data={"user_name": "admin", "user_password": PASSWORD, "sysparm_goto": goto})
    assert r.status_code == 302 and r.headers["Location"] == "/navpage.do"


def test_a_sign_in_posted_by_another_site_is_refused(server):
    port = urllib.parse.urlsplit(server.url).port
    for origin in ("http://evil.example", f"http://127.0.0.1:{port + 1}", "null"):
        s = browser(server)
        r = s.post(server.url + "/login.do", headers={"Origin": origin}, allow_redirects=False,
                   data={"user_name": "admin", "user_password": PASSWORD})
        assert r.status_code == 403 and "another site" in login_message(r), origin
        assert "JSESSIONID" not in s.cookies
    r = browser(server).post(server.url + "/login.do", headers={"Origin": server.url}, allow_redirects=False,
                             data={"user_name": "admin", "user_password": PASSWORD})
    assert r.status_code == 302


def test_pages_need_a_session_and_carry_strict_headers(server):
    r = requests.get(server.url + "/", allow_redirects=False)
    assert r.status_code == 302 and r.headers["Location"] == "/navpage.do"
    want = "/incident_list.do?sysparm_query=active%3Dtrue&sysparm_first_row=21"
    r = requests.get(server.url + want, allow_redirects=False)
    assert r.status_code == 302
    loc = urllib.parse.urlsplit(r.headers["Location"])
    assert loc.path == "/login.do"
    assert urllib.parse.parse_qs(loc.query)["sysparm_goto"] == [want]
    # the form carries it back
    form = requests.get(server.url + r.headers["Location"])
    assert 'name="sysparm_goto" value="' + want.replace("&", "&amp;") + '"' in form.text
    s, ck = sign_in(server)
    for path in ("/navpage.do", "/incident_list.do", "/incident.do?sys_id=-1", "/sys_user_list.do"):
        r = s.get(server.url + path, allow_redirects=False)
        assert r.status_code == 200, path
        assert r.headers["Content-Type"].startswith("text/html")
        assert r.headers["Cache-Control"] == "no-store"
        csp = r.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp
        assert "__SG_" not in r.text and f'content="{ck}"' in r.text
        assert '<meta name="sg-user" content="admin">' in r.text
    # not a page: unknown paths stay 404
    for path in ("/nothing", "/a/b.do", "/x.do.bak", "/.do"):
        assert s.get(server.url + path, allow_redirects=False).status_code == 404, path


def test_the_user_name_is_escaped_in_the_page(server):
    name = 'o"b<i>&' + uuid.uuid4().hex[:6]
    r = server.post("/api/now/table/sys_user", json={"user_name": name, "user_password": PASSWORD})
    assert r.status_code == 201
    s, _ = sign_in(server, name)
    page = s.get(server.url + "/navpage.do").text
    assert f'content="o&quot;b&lt;i&gt;&amp;{name[-6:]}"' in page
    assert "<i>" not in page


def test_the_api_takes_the_cookie_only_with_its_token(server):
    s, ck = sign_in(server)
    marker = "uis-csrf-" + uuid.uuid4().hex[:8]
    for method, path, body in (("GET", "/api/now/table/incident?sysparm_limit=1", None),
                               ("POST", "/api/now/table/incident", {"short_description": marker})):
        for token in (None, "", "wrong", ck[:-1]):
            r = api(s, server, method, path, token, json=body)
            assert r.status_code == 401, (method, token)
            assert r.json()["error"]["message"] == "User Not Authenticated"
            assert "WWW-Authenticate" not in r.headers  # a browser would prompt
    assert server.get("/api/now/table/incident", params={"short_description": marker}).json()["result"] == []
    r = api(s, server, "POST", "/api/now/table/incident", ck, json={"short_description": marker})
    assert r.status_code == 201 and r.json()["result"]["sys_created_by"] == "admin"
    sid = r.json()["result"]["sys_id"]
    r = api(s, server, "PATCH", f"/api/now/table/incident/{sid}", None, json={"short_description": "x"})
    assert r.status_code == 401
    r = api(s, server, "DELETE", f"/api/now/table/incident/{sid}", None)
    assert r.status_code == 401
    assert server.get(f"/api/now/table/incident/{sid}").status_code == 200
    assert api(s, server, "DELETE", f"/api/now/table/incident/{sid}", ck).status_code == 204
    # Basic still answers as before, with its challenge
    r = requests.get(server.url + "/api/now/table/incident", auth=("admin", "wrong"))
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == 'BASIC realm="Service-now"'


def test_acls_apply_as_the_signed_in_user(server):
    name, _ = make_user(server)
    s, ck = sign_in(server, name)
    # an itil user reads incidents, not the sessions nor the users' passwords
    assert api(s, server, "GET", "/api/now/table/incident?sysparm_limit=1", ck).status_code == 200
    r = api(s, server, "GET", "/api/now/table/sys_user_session", ck)
    assert r.status_code == 403 or r.json()["result"] == []
    r = api(s, server, "GET", "/_snowglobe/clock", ck)
    assert r.status_code == 403
    # the admin sees the sessions, never an id in clear
    rows = server.get("/api/now/table/sys_user_session").json()["result"]
    assert rows and all(r["id"].startswith("$sg-b2$") for r in rows)
    assert s.cookies["JSESSIONID"] not in str(rows)


def test_sign_in_rotates_the_id_and_sign_out_ends_it_on_the_server(server):
    s, ck = sign_in(server)
    first = s.cookies["JSESSIONID"]
    s2, ck2 = sign_in(server, s=s)
    second = s.cookies["JSESSIONID"]
    assert second != first and ck2 != ck
    stale = browser(server)
    stale.cookies.set("JSESSIONID", first)
    assert api(stale, server, "GET", "/api/now/table/incident?sysparm_limit=1", ck).status_code == 401
    # a planted id (fixation) is not kept either
    planted = browser(server)
    planted.cookies.set("JSESSIONID", "planted-by-someone-else", domain="127.0.0.1", path="/")
    sign_in(server, s=planted)
    assert planted.cookies["JSESSIONID"] != "planted-by-someone-else"
    # sign-out needs the token in a post
    r = s.post(server.url + "/logout.do", data={"sysparm_ck": "nope"}, allow_redirects=False)
    assert r.status_code == 403
    assert api(s, server, "GET", "/api/now/table/incident?sysparm_limit=1", ck2).status_code == 200
    r = s.post(server.url + "/logout.do", data={"sysparm_ck": ck2}, allow_redirects=False)
    assert r.status_code == 302 and r.headers["Location"].startswith("/login.do")
    assert "Max-Age=0" in r.headers["Set-Cookie"]
    again = browser(server)
    again.cookies.set("JSESSIONID", second)
    assert api(again, server, "GET", "/api/now/table/incident?sysparm_limit=1", ck2).status_code == 401
    assert again.get(server.url + "/navpage.do", allow_redirects=False).status_code == 302
    # GET /logout.do ends a session too (ServiceNow's link)
    s3, ck3 = sign_in(server)
    third = s3.cookies["JSESSIONID"]
    assert s3.get(server.url + "/logout.do", allow_redirects=False).status_code == 302
    gone = browser(server)
    gone.cookies.set("JSESSIONID", third)
    assert api(gone, server, "GET", "/api/now/table/incident?sysparm_limit=1", ck3).status_code == 401


def test_refused_accounts_say_why(server):
    s = browser(server)
    r = s.post(server.url + "/login.do", data={"user_name": "nobody-" + uuid.uuid4().hex, "user_password": "x"})
    assert r.status_code == 200 and login_message(r) == MSG_INVALID and "JSESSIONID" not in s.cookies
    ws, _ = make_user(server, web_service_access_only="true")
    r = s.post(server.url + "/login.do", data={"user_name": ws, "user_password": PASSWORD})
    assert "web services only" in login_message(r) and "JSESSIONID" not in s.cookies
    inactive, _ = make_user(server, active="false")
    r = s.post(server.url + "/login.do", data={"user_name": inactive, "user_password": PASSWORD})
    assert "inactive" in login_message(r)
    # the wrong password of an inactive user tells nothing more
    r = s.post(server.url + "/login.do", data={"user_name": inactive, "user_password": "wrong"})
    assert login_message(r) == MSG_INVALID
    assert "JSESSIONID" not in s.cookies


def test_the_lock_out_is_the_apis(server):
    name, uid = make_user(server)
    s = browser(server)
    for i in range(4):
        r = s.post(server.url + "/login.do", data={"user_name": name, "user_password": "wrong"})
        assert login_message(r) == MSG_INVALID
    assert requests.get(server.url + "/api/now/table/incident", auth=(name, "wrong")).status_code == 401
    r = s.post(server.url + "/login.do", data={"user_name": name, "user_password": PASSWORD})
    assert "locked" in login_message(r) and "JSESSIONID" not in s.cookies
    assert server.get(f"/api/now/table/sys_user/{uid}").json()["result"]["locked_out"] == "true"


def test_a_session_ends_when_its_user_is_locked_or_deactivated(server):
    name, uid = make_user(server)
    s, ck = sign_in(server, name)
    assert api(s, server, "GET", "/api/now/table/incident?sysparm_limit=1", ck).status_code == 200
    assert server.patch(f"/api/now/table/sys_user/{uid}", json={"locked_out": "true"}).status_code == 200
    assert api(s, server, "GET", "/api/now/table/incident?sysparm_limit=1", ck).status_code == 401
    assert server.patch(f"/api/now/table/sys_user/{uid}", json={"locked_out": "false"}).status_code == 200
    # ended, not suspended
    assert api(s, server, "GET", "/api/now/table/incident?sysparm_limit=1", ck).status_code == 401


def test_idle_sessions_expire_after_the_timeout():
    srv = Server(demo=False)
    try:
        srv.set_property("glide.ui.session_timeout", "5")
        s, ck = sign_in(srv)
        ok = lambda: api(s, srv, "GET", "/api/now/table/sys_properties?sysparm_limit=1", ck).status_code
        assert srv.post("/_snowglobe/clock", json={"action": "advance", "seconds": 240}).status_code == 200
        assert ok() == 200  # 4 idle minutes: alive, and used again now
        assert srv.post("/_snowglobe/clock", json={"action": "advance", "seconds": 240}).status_code == 200
        assert ok() == 200  # 4 more since the last use
        assert srv.post("/_snowglobe/clock", json={"action": "advance", "seconds": 360}).status_code == 200
        assert ok() == 401  # 6 idle minutes
        r = s.get(srv.url + "/navpage.do", allow_redirects=False)
        assert r.status_code == 302 and "sysparm_message=expired" in r.headers["Location"]
    finally:
        srv.post("/_snowglobe/clock", json={"action": "real"})
        srv.stop()


def test_the_cookie_is_secure_under_tls():
    srv = Server(demo=False, tls=True)
    try:
        r = requests.post(srv.url + "/login.do", verify=srv.verify, allow_redirects=False,
                          data={"user_name": "admin", "user_password": PASSWORD})
        assert r.status_code == 302
        assert "Secure" in [p.strip() for p in r.headers["Set-Cookie"].split(";")]
    finally:
        srv.stop()


def test_static_files(server):
    r = requests.get(server.url + "/ui/css/base.css")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/css")
    assert r.headers["X-Content-Type-Options"] == "nosniff" and r.headers["Last-Modified"]
    etag = r.headers["ETag"]
    r2 = requests.get(server.url + "/ui/css/base.css", headers={"If-None-Match": etag})
    assert r2.status_code == 304 and r2.content == b""
    assert requests.get(server.url + "/ui/js/api.js").headers["Content-Type"].startswith("text/javascript")
    assert requests.head(server.url + "/ui/login.html").status_code == 200
    assert requests.get(server.url + "/favicon.ico").headers["Content-Type"] == "image/x-icon"
    for path in ("/ui/", "/ui/css", "/ui/css/", "/ui/nope.css", "/ui/.hidden",
                 "/ui/%2e%2e/Makefile", "/ui/css/%2e%2e/%2e%2e/Makefile", "/ui/..%2fMakefile",
                 "/ui/css//base.css"):
        r = requests.get(server.url + path)
        assert r.status_code == 404, path
        assert "clang" not in r.text
    assert requests.post(server.url + "/ui/css/base.css").status_code in (404, 405)


def test_a_symlink_cannot_lead_out_of_the_ui_dir():
    root = tempfile.mkdtemp(prefix="sg-ui-")
    src = os.path.join(os.path.dirname(__file__), "..", "..", "ui")
    ui = os.path.join(root, "ui")
    shutil.copytree(src, ui)
    secret = os.path.join(root, "secret.txt")
    with open(secret, "w") as f:
        f.write("not for the web")
    os.symlink(secret, os.path.join(ui, "leak.txt"))
    os.symlink(os.path.join(ui, "css", "base.css"), os.path.join(ui, "inside.css"))
    srv = Server(demo=False, extra=["--ui-dir", ui])
    try:
        assert requests.get(srv.url + "/ui/leak.txt").status_code == 404
        assert requests.get(srv.url + "/ui/inside.css").status_code == 200
    finally:
        srv.stop()
        shutil.rmtree(root, ignore_errors=True)
