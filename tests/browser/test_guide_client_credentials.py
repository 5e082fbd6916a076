"""Scenario 4 of the vendor guides (client credentials, Cloud ex Machina-style) done entirely
through the console, as examples/automated-tickets/setup.sh does it with nowctl: the system
property (a security property: it needs the elevation prompt), the web-service-only user with
its roles (the user form's Roles list), the auth scope and the REST API auth scope on now/table,
and the OAuth application from the Application Registry's "New" (client id shown, secret shown
once, the user it runs as, the scope attached).  Then, outside the browser, the client id and
secret get a token that creates an incident; and a step undone (no application user, the
property off) makes the grant fail as the instance words it.

Also here: creating an ACL asks for security_admin elevation first; the request journal page
with its filters."""
import re
import time
import urllib.parse

import requests
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

from conftest import sign_in

PROP = "glide.oauth.inbound.client.credential.grant_type.enabled"


def wait(driver, cond, timeout=10):
    """Polls cond; an element replaced meanwhile (a page that reloads, as the elevation does
    from a refused form) is looked up again at the next poll."""
    return WebDriverWait(driver, timeout, poll_frequency=0.05,
                         ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)).until(cond)


def ready(driver):
    wait(driver, lambda d: d.execute_script("return document.body.getAttribute('data-sg-ready')") is not None)


def open_page(driver, server, path):
    driver.get(server.url + path)
    ready(driver)


def follow(driver, element):
    """Clicks what routes to another view and waits for it to draw."""
    driver.execute_script("document.body.removeAttribute('data-sg-ready')")
    element.click()
    ready(driver)


def rows(server, table, query, fields):
    r = server.get(f"/api/now/table/{table}", params={"sysparm_query": query, "sysparm_fields": fields,
                                                      "sysparm_exclude_reference_link": "true"},
                   headers={"X-Snowglobe-Elevate": "security_admin"})
    assert r.status_code == 200, r.text
    return r.json()["result"]


def expected_403s(driver):
    """Reads (and so clears) the browser log: each SEVERE entry must be a 403 the test
    provoked (Chromium logs every 4xx a fetch gets)."""
    for e in driver.get_log("browser"):
        if e["level"] == "SEVERE":
            assert " 403 " in e["message"], e["message"]


def allow_elevation(server):
    server.set_property("snowglobe.rest.allow_elevation", "true")
    deadline = time.time() + 10  # set offline: nowd sees it when its property cache renews
    while server.get("/api/now/table/sys_security_acl", params={"sysparm_limit": "1"},
                     headers={"X-Snowglobe-Elevate": "security_admin"}).status_code != 200:
        assert time.time() < deadline, "elevation over REST never took effect"
        time.sleep(0.2)


def type_into(driver, element_id, text):
    el = driver.find_element(By.ID, element_id)
    el.clear()
    el.send_keys(text)
    return el


def choose_reference(driver, element_id, typed, want):
    """Types into a reference field and takes the highlighted option by keyboard."""
    ref = type_into(driver, element_id, typed)
    listbox = "#" + ref.get_attribute("aria-controls")
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, listbox + " li[role=option]:not([aria-disabled])"))
    assert [o.text for o in driver.find_elements(By.CSS_SELECTOR, listbox + " li")] == [want]
    ref.send_keys(Keys.ENTER)
    assert ref.get_attribute("value") == want


def submit_new(driver):
    follow(driver, driver.find_element(By.CSS_SELECTOR, "button[data-action=insert]"))


def info(driver):
    return driver.find_element(By.CSS_SELECTOR, ".sg-msg-info").text


def record_id(driver):
    return urllib.parse.parse_qs(urllib.parse.urlsplit(driver.current_url).query)["sys_id"][0]


def elevate_from_error(driver):
    """The refusal's "Elevate role", the dialog, security_admin, OK."""
    err = driver.find_element(By.CSS_SELECTOR, ".sg-msg-error")
    err.find_element(By.ID, "sg-elevate").click()
    dialog = wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, "dialog[open]#sg-elevate-dialog"))
    dialog.find_element(By.ID, "sg-elevate-role").click()
    dialog.find_element(By.ID, "sg-elevate-ok").click()
    wait(driver, lambda d: d.find_element(By.ID, "sg-elevation").text.startswith("Elevated: security_admin"))


def pick(driver, key, name):
    """A related list's picker: choose name, Add, and wait for it to be listed."""
    Select(driver.find_element(By.ID, f"sg-pick-{key}")).select_by_visible_text(name)
    driver.find_element(By.ID, f"sg-pick-{key}-add").click()
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, f"#sg-rel-{key} li[data-name='{name}']"))


def token(server, client_id, secret):
    return requests.post(server.url + "/oauth_token.do", data={
        "grant_type": "client_credentials", "client_id": client_id, "client_secret": secret})


def test_scenario_4_through_the_console(server, driver):
    allow_elevation(server)
    sign_in(driver, server)

    # Step 1: the system property (the demo instance has it, off), found through the System
    # Properties list's filter and set to true.  A glide.oauth.* property is a security
    # property: the refusal offers the elevation, the form keeps the value, Update works.
    open_page(driver, server, "/sys_properties_list.do?sysparm_query=" + urllib.parse.quote("name=" + PROP))
    links = driver.find_elements(By.CSS_SELECTOR, "#sg-list tbody th a")
    assert [a.text for a in links] == [PROP]
    follow(driver, links[0])
    assert driver.find_element(By.ID, "sg-f-value").get_attribute("value") == "false"
    type_into(driver, "sg-f-value", "true")
    driver.find_element(By.CSS_SELECTOR, "button[data-action=update]").click()
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".sg-msg-error #sg-elevate"))
    expected_403s(driver)
    assert [r["value"] for r in rows(server, "sys_properties", f"name={PROP}", "value")] == ["false"]
    elevate_from_error(driver)
    assert driver.find_element(By.ID, "sg-f-value").get_attribute("value") == "true"  # kept
    follow(driver, driver.find_element(By.CSS_SELECTOR, "button[data-action=update]"))
    assert "Record updated" in info(driver)
    assert [r["value"] for r in rows(server, "sys_properties", f"name={PROP}", "value")] == ["true"]

    # Step 2: the web-service-only user and its roles, through the user form's Roles list.
    open_page(driver, server, "/sys_user.do?sys_id=-1")
    type_into(driver, "sg-f-user_name", "cxm_integration")
    type_into(driver, "sg-f-first_name", "Cloud ex Machina")
    type_into(driver, "sg-f-last_name", "Integration")
    driver.find_element(By.ID, "sg-f-web_service_access_only").click()
    submit_new(driver)
    user_id = record_id(driver)
    assert "Record inserted" in info(driver)
    assert driver.find_element(By.ID, "sg-f-web_service_access_only").is_selected()
    pick(driver, "roles", "rest_service")
    pick(driver, "roles", "itil")
    assert sorted(r["role.name"] for r in rows(server, "sys_user_has_role", f"user={user_id}", "role.name")) == \
        ["itil", "rest_service"]

    # Step 3: the auth scope, and its REST API auth scope on the Table API (now/table).
    open_page(driver, server, "/sys_auth_scope.do?sys_id=-1")
    type_into(driver, "sg-f-name", "cxm_api_access")
    submit_new(driver)
    open_page(driver, server, "/sys_api_access_scope_list.do")
    follow(driver, driver.find_element(By.ID, "sg-new"))
    type_into(driver, "sg-f-name", "cxm_api_access table")
    choose_reference(driver, "sg-f-auth_scope", "cxm_api", "cxm_api_access")
    assert driver.find_element(By.ID, "sg-f-rest_api_path").get_attribute("value") == "now/table"
    submit_new(driver)
    assert "Record inserted" in info(driver)

    # Step 4: the OAuth application, from the Application Registry's New: the kinds first.
    open_page(driver, server, "/oauth_entity_list.do")
    follow(driver, driver.find_element(By.ID, "sg-new"))
    kinds = [a.text for a in driver.find_elements(By.CSS_SELECTOR, ".sg-kinds a")]
    assert kinds == ["Create an OAuth API endpoint for external clients", "Connect to a third party OAuth Provider"]
    follow(driver, driver.find_element(By.LINK_TEXT, "Create an OAuth API endpoint for external clients"))
    assert Select(driver.find_element(By.ID, "sg-f-type")).first_selected_option.text == "OAuth Client"
    type_into(driver, "sg-f-name", "cxm_tickets")
    client_id = driver.find_element(By.ID, "sg-f-client_id").get_attribute("value")
    Select(driver.find_element(By.ID, "sg-f-default_grant_type")).select_by_visible_text("Client Credentials")
    choose_reference(driver, "sg-f-oauth_user", "Cloud ex", "Cloud ex Machina Integration")
    submit_new(driver)
    secret = driver.find_element(By.ID, "sg-secret-once").text
    assert len(secret) == 32
    app = rows(server, "oauth_entity", "name=cxm_tickets", "sys_id,client_id,oauth_user,default_grant_type,active")[0]
    assert app["oauth_user"] == user_id and app["default_grant_type"] == "client_credentials" and app["active"] == "true"
    shown_id = driver.find_element(By.ID, "sg-f-client_id").get_attribute("value")
    assert shown_id == app["client_id"] and (not client_id or client_id == shown_id)
    pick(driver, "scopes", "cxm_api_access")
    assert [r["auth_scope.name"] for r in rows(server, "oauth_entity_auth_scope", f"oauth_entity={app['sys_id']}",
                                                "auth_scope.name")] == ["cxm_api_access"]
    # The secret was shown once: the form never shows it again.
    open_page(driver, server, f"/oauth_entity.do?sys_id={app['sys_id']}")
    assert driver.find_elements(By.ID, "sg-secret-once") == [] and secret not in driver.page_source

    # Outside the browser: the connector's token, and an incident made with it.
    r = token(server, app["client_id"], secret)
    assert r.status_code == 200, r.text
    bearer = {"Authorization": "Bearer " + r.json()["access_token"], "Accept": "application/json"}
    r = requests.post(server.url + "/api/now/table/incident", headers=bearer,
                      json={"short_description": "Cost anomaly on account 42"})
    assert r.status_code == 201, r.text
    assert r.json()["result"]["sys_created_by"] == "cxm_integration"
    assert token(server, app["client_id"], secret[::-1]).status_code == 401

    # A step left out fails as the instance says.  No OAuth application user: refused; the
    # user put back: a token again.
    open_page(driver, server, f"/oauth_entity.do?sys_id={app['sys_id']}")
    ref = driver.find_element(By.ID, "sg-f-oauth_user")
    assert ref.get_attribute("value") == "Cloud ex Machina Integration"
    ref.send_keys(Keys.CONTROL, "a")
    ref.send_keys(Keys.DELETE)
    follow(driver, driver.find_element(By.CSS_SELECTOR, "button[data-action=update]"))
    assert rows(server, "oauth_entity", f"sys_id={app['sys_id']}", "oauth_user")[0]["oauth_user"] == ""
    r = token(server, app["client_id"], secret)
    assert r.status_code == 401 and r.json()["error_description"] == "access_denied", r.text
    choose_reference(driver, "sg-f-oauth_user", "Cloud ex", "Cloud ex Machina Integration")
    follow(driver, driver.find_element(By.CSS_SELECTOR, "button[data-action=update]"))
    assert token(server, app["client_id"], secret).status_code == 200
    # The property off (through its form): the grant is refused.
    prop = rows(server, "sys_properties", f"name={PROP}", "sys_id")[0]["sys_id"]
    open_page(driver, server, f"/sys_properties.do?sys_id={prop}")
    type_into(driver, "sg-f-value", "false")
    follow(driver, driver.find_element(By.CSS_SELECTOR, "button[data-action=update]"))
    assert "Record updated" in info(driver)
    r = token(server, app["client_id"], secret)
    assert r.status_code == 401 and r.json()["error_description"] == "access_denied", r.text  # ServiceNow's shape


def test_creating_an_acl_asks_for_elevation(server, driver):
    """As ServiceNow does: an admin may not create an ACL until security_admin is elevated.
    The ACL table is refused to an admin without it, so its form offers the elevation before
    drawing; once elevated, the form is drawn and Submit creates the ACL."""
    allow_elevation(server)
    sign_in(driver, server)
    open_page(driver, server, "/sys_security_acl.do?sys_id=-1")
    err = wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, ".sg-msg-error"))
    assert err.find_elements(By.ID, "sg-elevate"), err.text
    assert not driver.find_elements(By.ID, "sg-f-name")  # no form to type into yet
    expected_403s(driver)
    elevate_from_error(driver)
    wait(driver, lambda d: d.find_element(By.ID, "sg-f-name"))
    type_into(driver, "sg-f-name", "incident.u_vendor_ref")
    Select(driver.find_element(By.ID, "sg-f-operation")).select_by_value("read")
    assert rows(server, "sys_security_acl", "name=incident.u_vendor_ref", "sys_id") == []
    submit_new(driver)
    assert "Record inserted" in info(driver)
    made = rows(server, "sys_security_acl", "name=incident.u_vendor_ref", "sys_id,operation")
    assert [r["operation"] for r in made] == ["read"]


def test_request_journal_page(server, driver):
    """The request journal as a console page: linked from the navigator, newest first, its
    filters in the URL and applied by nowd."""
    server.get("/api/now/table/incident", params={"sysparm_limit": "1", "journal_probe": "1"})
    sign_in(driver, server)
    link = wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, "#sg-nav-apps a[href='/snowglobe_request_journal.do']"))
    assert link.text == "Request Journal"
    follow(driver, link)
    assert driver.find_element(By.TAG_NAME, "h1").text == "Request journal"
    assert driver.find_elements(By.CSS_SELECTOR, "#sg-journal tbody tr")
    type_into(driver, "sg-jf-path", "/api/now/table/incident")
    type_into(driver, "sg-jf-user", "admin")
    type_into(driver, "sg-jf-method", "GET")
    follow(driver, driver.find_element(By.ID, "sg-jf-run"))
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(driver.current_url).query)
    assert q == {"path": ["/api/now/table/incident"], "user": ["admin"], "method": ["GET"]}
    paths = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#sg-journal td.sg-journal-path")]
    assert paths and all(p.startswith("/api/now/table/incident") for p in paths)
    assert any("journal_probe=1" in p for p in paths)
    assert re.fullmatch(r"\d+ of \d+, newest first", driver.find_element(By.ID, "sg-range").text)
    # A filter nowd refuses is shown as it words it.
    open_page(driver, server, "/snowglobe_request_journal.do?status=abc")
    assert driver.find_element(By.CSS_SELECTOR, ".sg-msg-error").text
    driver.get_log("browser")  # the 400 it provoked
