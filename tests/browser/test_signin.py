"""Sign-in, sessions and CSRF in a real Chromium (issue 20): the form, the cookie's flags,
sign-out, the lock-out shared with the API, web-service-only users, the way back to the
page asked for, and pages of another origin that try to act with the user's cookie."""
import http.server
import threading
import urllib.parse
import uuid

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException

from conftest import (PASSWORD, console_errors, fill_sign_in, path_of, sign_in, wait)


def make_user(server, **fields):
    """A new user (roles: itil) with PASSWORD; returns its user_name."""
    name = "ui." + uuid.uuid4().hex[:10]
    body = {"user_name": name, "user_password": PASSWORD, "first_name": "UI", "last_name": name}
    body.update(fields)
    r = server.post("/api/now/table/sys_user", json=body)
    assert r.status_code == 201, r.text
    uid = r.json()["result"]["sys_id"]
    r = server.post("/api/now/table/sys_user_has_role", json={"user": uid, "role": "itil"})
    assert r.status_code == 201, r.text
    return name


def message(driver):
    return driver.find_element(By.ID, "sg-login-message").text


def gone(element):
    """True once the element has left the document. Chromium reports a replaced page's node
    either as stale or as "does not belong to the document", depending on its version."""
    try:
        element.is_enabled()
        return False
    except (StaleElementReferenceException, WebDriverException):
        return True


def submit(driver, user, password):
    """Signs in through the form on screen and waits for the next page."""
    form = driver.find_element(By.ID, "sg-login-form")
    fill_sign_in(driver, user, password)
    wait(driver).until(lambda d: gone(form))
    wait(driver).until(lambda d: d.execute_script("return document.readyState") == "complete")


def meta(driver, name):
    return driver.find_element(By.CSS_SELECTOR, f'meta[name="{name}"]').get_attribute("content")


def session_cookie(driver):
    return driver.get_cookie("JSESSIONID")


def test_a_page_without_a_session_goes_to_sign_in_and_back(server, driver):
    want = "/incident_list.do?sysparm_query=active%3Dtrue%5Epriority%3D1"
    driver.get(server.url + want)
    wait(driver).until(lambda d: urllib.parse.urlsplit(d.current_url).path == "/login.do")
    goto = urllib.parse.parse_qs(urllib.parse.urlsplit(driver.current_url).query)["sysparm_goto"]
    assert goto == [want]
    assert driver.find_element(By.NAME, "sysparm_goto").get_attribute("value") == goto[0]
    fill_sign_in(driver, "admin", PASSWORD)
    wait(driver).until(lambda d: urllib.parse.urlsplit(d.current_url).path == "/incident_list.do")
    assert path_of(driver) == want
    assert meta(driver, "sg-user") == "admin"
    assert len(meta(driver, "sg-ck")) >= 32


def test_sign_in_sets_a_guarded_cookie_and_sign_out_ends_the_session(server, driver):
    sign_in(driver, server)
    c = session_cookie(driver)
    assert c and c["httpOnly"] is True and c.get("sameSite") == "Lax" and c["path"] == "/"
    assert c["secure"] is False  # plain HTTP here; test_ui_session.py checks Secure under TLS
    # HttpOnly: the page's scripts cannot read it
    assert "JSESSIONID" not in driver.execute_script("return document.cookie")
    # the page's token works for the API from the page, as the views use it
    r = driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const ck = document.querySelector('meta[name="sg-ck"]').content;
        fetch('/api/now/table/incident?sysparm_limit=1', {headers: {'Accept': 'application/json',
              'X-UserToken': ck}}).then(r => done(r.status));""")
    assert r == 200
    old = c["value"]
    driver.find_element(By.CSS_SELECTOR, "#sg-logout button").click()
    wait(driver).until(lambda d: urllib.parse.urlsplit(d.current_url).path == "/login.do")
    assert "signed out" in message(driver)
    assert session_cookie(driver) is None
    # ended on the server, not only forgotten by the browser
    r = requests.get(server.url + "/api/now/table/incident?sysparm_limit=1",
                     cookies={"JSESSIONID": old}, headers={"X-UserToken": "x", "Accept": "application/json"})
    assert r.status_code == 401
    driver.get(server.url + "/navpage.do")
    wait(driver).until(lambda d: urllib.parse.urlsplit(d.current_url).path == "/login.do")


def test_wrong_password_then_the_lock_out_shared_with_the_api(server, driver):
    name = make_user(server)
    # two failures through the API's Basic auth, the rest through the form: one count
    for _ in range(2):
        r = requests.get(server.url + "/api/now/table/incident", auth=(name, "wrong"))
        assert r.status_code == 401
    driver.get(server.url + "/login.do")
    for _ in range(2):
        submit(driver, name, "wrong-password")
        assert message(driver) == "User name or password invalid."
        assert session_cookie(driver) is None
    # the fifth failure (glide.user.max_unlock_attempts) locks the account, and says so
    submit(driver, name, "wrong-password")
    assert "locked" in message(driver)
    # then the right password is refused too
    submit(driver, name, PASSWORD)
    assert "locked" in message(driver)
    assert session_cookie(driver) is None
    assert path_of(driver).startswith("/login.do")
    r = requests.get(server.url + "/api/now/table/incident", auth=(name, PASSWORD))
    assert r.status_code == 401


def test_a_web_service_only_user_is_refused(server, driver):
    name = make_user(server, web_service_access_only="true")
    driver.get(server.url + "/login.do")
    submit(driver, name, PASSWORD)
    assert "web service" in message(driver).lower()
    assert session_cookie(driver) is None
    # the same user may still call the API
    r = requests.get(server.url + "/api/now/table/incident?sysparm_limit=1", auth=(name, PASSWORD),
                     headers={"Accept": "application/json"})
    assert r.status_code == 200


def incidents_named(server, text):
    r = server.get("/api/now/table/incident", params={"sysparm_query": f"short_description={text}",
                                                     "sysparm_fields": "sys_id"})
    assert r.status_code == 200
    return r.json()["result"]


@pytest.fixture
def other_origin(server):
    """An HTTP server on another port (another origin; the same site, so the browser does
    send the SameSite=Lax cookie: only the token stands in the way) serving pages that
    try to act on nowd with the signed-in user's cookie."""
    marker = "csrf-" + uuid.uuid4().hex[:8]
    target = server.url
    pages = {
        "/logout.html": f"""<!doctype html><html><body>
<form id="f" method="post" action="{target}/logout.do"><input name="x" value="1"></form>
<script>document.getElementById('f').submit();</script></body></html>""",
        "/create.html": f"""<!doctype html><html><body>
<form id="f" method="post" action="{target}/api/now/table/incident" enctype="text/plain">
<input name='{{"short_description":"{marker}","x":"' value='"}}'></form>
<script>document.getElementById('f').submit();</script></body></html>""",
        "/fetch.html": f"""<!doctype html><html><body><p id="out">running</p><script>
fetch('{target}/api/now/table/incident', {{method: 'POST', mode: 'no-cors', credentials: 'include',
  headers: {{'Content-Type': 'text/plain'}}, body: JSON.stringify({{short_description: '{marker}'}})}})
  .then(() => document.getElementById('out').textContent = 'sent',
        () => document.getElementById('out').textContent = 'sent');
</script></body></html>""",
    }

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = pages.get(self.path, "").encode()
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", marker
    httpd.shutdown()
    httpd.server_close()


def test_another_origin_cannot_act_with_the_cookie(server, driver, other_origin):
    origin, marker = other_origin
    sign_in(driver, server)
    cookie = session_cookie(driver)["value"]
    # from the page itself, without the token: not credentials, nothing created
    status = driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        fetch('/api/now/table/incident', {method: 'POST', credentials: 'same-origin',
              headers: {'Content-Type': 'application/json', 'Accept': 'application/json'},
              body: JSON.stringify({short_description: arguments[0]})}).then(r => done(r.status));""",
        marker)
    assert status == 401
    # another origin's auto-submitting form and credentialed fetch
    for page in ("/create.html", "/fetch.html"):
        driver.get(origin + page)
        if page == "/fetch.html":
            wait(driver).until(lambda d: d.find_element(By.ID, "out").text == "sent")
        else:
            wait(driver).until(lambda d: d.current_url.startswith(server.url))
    assert incidents_named(server, marker) == []
    # a sign-out form without the token does not end the session
    driver.get(origin + "/logout.html")
    wait(driver).until(lambda d: d.current_url.startswith(server.url + "/logout.do"))
    driver.get(server.url + "/navpage.do")
    wait(driver).until(lambda d: urllib.parse.urlsplit(d.current_url).path == "/navpage.do")
    assert session_cookie(driver)["value"] == cookie
    # the refusals were logged by the browser (401, 403): expected here
    console_errors(driver)
    # the same with requests: the cookie alone changes nothing
    r = requests.post(server.url + "/api/now/table/incident", cookies={"JSESSIONID": cookie},
                      json={"short_description": marker}, headers={"Accept": "application/json"})
    assert r.status_code == 401
    assert r.json()["error"]["message"] == "User Not Authenticated"
    assert incidents_named(server, marker) == []
    # and with the token it is the user: the check is the token, not something else
    ck = driver.find_element(By.CSS_SELECTOR, 'meta[name="sg-ck"]').get_attribute("content")
    r = requests.post(server.url + "/api/now/table/incident", cookies={"JSESSIONID": cookie},
                      json={"short_description": marker},
                      headers={"Accept": "application/json", "X-UserToken": ck})
    assert r.status_code == 201, r.text
    assert r.json()["result"]["sys_created_by"] == "admin"
    assert len(incidents_named(server, marker)) == 1
