"""Issue 20's last screens: an outbound OAuth provider made from the Application Registry's "New",
its form's "Get OAuth Token" related link (client credentials at once; the password grant asks
for the resource owner first; the provider's refusal shown as the instance words it), and the
outbound HTTP log page from the navigator: newest first, filtered by the URL's query, one request
opened with its secrets masked as the log keeps them.  The stand-in provider is the black-box
suite's (Python's http.server in a thread)."""
import importlib.util
import json
import os
import urllib.parse

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from conftest import console_errors, nowctl, sign_in
from test_guide_client_credentials import follow, info, open_page, ready, record_id, submit_new, type_into, wait

_spec = importlib.util.spec_from_file_location(  # it imports no conftest: either suite may load it
    "sg_oauth_provider", os.path.join(os.path.dirname(__file__), "..", "blackbox", "oauth_provider.py"))
outbound = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(outbound)
Provider, CLIENT_SECRET, OWNER_PASSWORD = outbound.Provider, outbound.CLIENT_SECRET, outbound.OWNER_PASSWORD

API_KEY = "k-" + "5e3c7a9b1d"


def expected_502s(driver):
    """Reads (and so clears) the browser log: each SEVERE entry must be the 502 the test
    provoked (Chromium logs every failed status a fetch gets)."""
    for e in console_errors(driver):
        assert " 502 " in e["message"], e["message"]


def get_token(driver):
    """Clicks the related link and waits for its outcome."""
    driver.find_element(By.ID, "sg-get-oauth-token").click()


def outcome(driver, kind):
    """The related link's message once the call is over (the area is aria-busy meanwhile)."""
    box = wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, f"#sg-oauth-token-msgs:not([aria-busy]) .sg-msg-{kind}"))
    return box.text


def test_get_oauth_token_and_the_outbound_log(server, driver):
    prov, owner = Provider(), Provider()
    try:
        sign_in(driver, server)

        # The provider, from the Application Registry's New, as the vendor guides do it.
        open_page(driver, server, "/oauth_entity_list.do")
        follow(driver, driver.find_element(By.ID, "sg-new"))
        follow(driver, driver.find_element(By.LINK_TEXT, "Connect to a third party OAuth Provider"))
        assert Select(driver.find_element(By.ID, "sg-f-type")).first_selected_option.text == "OAuth Provider"
        type_into(driver, "sg-f-name", "Vendor console")
        type_into(driver, "sg-f-client_id", prov.client_id)
        type_into(driver, "sg-f-client_secret", CLIENT_SECRET)
        Select(driver.find_element(By.ID, "sg-f-default_grant_type")).select_by_visible_text("Client Credentials")
        driver.find_element(By.CSS_SELECTOR, "details.sg-more summary").click()
        type_into(driver, "sg-f-token_url", prov.url + "/token")
        submit_new(driver)
        assert "Record inserted" in info(driver)
        ent = record_id(driver)

        # Get OAuth Token: the outcome and the expiry, no token on the page.
        get_token(driver)
        text = outcome(driver, "info")
        assert "OAuth token flow completed successfully" in text and "expires" in text and "in 60 minutes" in text
        assert prov.grants == ["client_credentials"]
        assert not any(t in driver.page_source for t in prov.issued)
        creds = server.get("/api/now/table/oauth_credential", params={"sysparm_query": "peer=" + ent}).json()["result"]
        assert len(creds) == 1 and creds[0]["expires"] in text

        # The provider refuses the client: said so, with its status, and nothing stored anew.
        prov.answer = (401, "application/json", json.dumps({"error": "invalid_client"}))
        get_token(driver)
        text = outcome(driver, "error")
        assert text.startswith("OAuth flow failed") and "HTTP 401" in text and "invalid_client" in text
        expected_502s(driver)
        prov.answer = None

        # The password grant: the resource owner's name and password asked for, used once.
        r = server.post("/api/now/table/oauth_entity", json={
            "name": "Owner console", "type": "oauth_provider", "client_id": owner.client_id,
            "client_secret": CLIENT_SECRET, "token_url": owner.url + "/token", "default_grant_type": "password"})
        assert r.status_code == 201, r.text
        open_page(driver, server, "/oauth_entity.do?sys_id=" + r.json()["result"]["sys_id"])
        get_token(driver)
        dialog = wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, "dialog[open]#sg-oauth-owner"))
        type_into(driver, "sg-oauth-user", "owner")
        type_into(driver, "sg-oauth-password", OWNER_PASSWORD)
        dialog.find_element(By.ID, "sg-oauth-owner-ok").click()
        text = outcome(driver, "info")
        assert "completed successfully" in text and "with a refresh token" in text
        assert owner.grants == ["password"] and OWNER_PASSWORD not in driver.page_source

        # A REST message on the provider's profile sends with the token got above.
        prof = server.get("/api/now/table/oauth_entity_profile",
                          params={"sysparm_query": "oauth_entity=" + ent}).json()["result"][0]["sys_id"]
        r = server.post("/api/now/table/sys_rest_message", json={
            "name": "Vendor API", "rest_endpoint": prov.url + "/api/whoami?api_key=" + API_KEY,
            "authentication_type": "oauth2", "oauth2_profile": prof})
        assert r.status_code == 201, r.text
        nowctl(server, "rest", "test", "Vendor API", "Default GET", offline=True)
        assert prov.grants == ["client_credentials", "client_credentials"]  # the stored token was used

        # The outbound log, from the navigator next to the request journal.
        open_page(driver, server, "/navpage.do")
        link = driver.find_element(By.CSS_SELECTOR, "#sg-nav a[href='/snowglobe_outbound_log.do']")
        assert link.text == "Outbound HTTP Requests"
        follow(driver, link)
        rows = driver.find_elements(By.CSS_SELECTOR, "#sg-outlog tbody tr")
        assert rows, driver.find_element(By.ID, "sg-main").text
        first = rows[0].find_elements(By.TAG_NAME, "td")
        assert [c.text for c in first[:1]] == ["GET"] and "/api/whoami" in first[1].text
        assert first[2].text == "200" and first[4].text == "Vendor API.Default GET"
        assert API_KEY not in driver.page_source

        # Filtered by the URL's query, kept in the page's URL.
        type_into(driver, "sg-of-url", "/nothing-here")
        follow(driver, driver.find_element(By.ID, "sg-of-run"))
        assert urllib.parse.parse_qs(urllib.parse.urlsplit(driver.current_url).query) == {"url": ["/nothing-here"]}
        assert driver.find_element(By.ID, "sg-range").text == "No outbound requests match"
        open_page(driver, server, "/snowglobe_outbound_log.do?url=whoami&status=2xx")
        rows = driver.find_elements(By.CSS_SELECTOR, "#sg-outlog tbody tr")
        assert len(rows) == 1 and driver.find_element(By.ID, "sg-of-status").get_attribute("value") == "2xx"

        # One request: its headers and bodies as stored, the bearer and the api_key masked.
        follow(driver, rows[0].find_element(By.CSS_SELECTOR, "th a"))
        facts = driver.find_element(By.ID, "sg-outlog-facts").text
        assert "Vendor API.Default GET" in facts and "api_key=" in facts and API_KEY not in facts
        headers = driver.find_element(By.ID, "sg-outlog-req-headers").text
        assert "Authorization: Bearer ***" in headers
        assert '"ok": true' in driver.find_element(By.ID, "sg-outlog-resp-body").text
        assert not any(t in driver.page_source for t in prov.issued)
        ready(driver)
    finally:
        prov.stop()
        owner.stop()


def test_get_oauth_token_authorization_code_opens_the_providers_page(server, driver):
    """authorization_code: the link opens the provider's sign-in page in a window; the provider
    sends it back to the instance's /oauth_redirect.do, which exchanges the code and says so."""
    prov = Provider()
    try:
        r = server.post("/api/now/table/oauth_entity", json={
            "name": "Browser vendor", "type": "oauth_provider", "client_id": prov.client_id,
            "client_secret": CLIENT_SECRET, "token_url": prov.url + "/token", "auth_url": prov.url + "/authorize",
            "code_challenge_method": "S256", "default_grant_type": "authorization_code"})
        assert r.status_code == 201, r.text
        ent = r.json()["result"]["sys_id"]
        sign_in(driver, server)
        open_page(driver, server, "/oauth_entity.do?sys_id=" + ent)
        console = driver.current_window_handle
        get_token(driver)
        text = outcome(driver, "info")
        assert "Sign in at the OAuth provider in the window that opened" in text
        popup = wait(driver, lambda d: [w for w in d.window_handles if w != console])[0]
        driver.switch_to.window(popup)
        wait(driver, lambda d: "OAuth token received" in d.find_element(By.TAG_NAME, "h1").text)
        assert urllib.parse.urlsplit(driver.current_url).path == "/oauth_redirect.do"
        assert prov.grants == ["authorization_code"]
        driver.close()
        driver.switch_to.window(console)
        creds = server.get("/api/now/table/oauth_credential", params={"sysparm_query": "peer=" + ent}).json()["result"]
        assert sorted(c["type"] for c in creds) == ["access_token", "refresh_token"]
    finally:
        prov.stop()
