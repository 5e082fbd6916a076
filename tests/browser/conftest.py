"""Browser-test fixtures: a real nowd (the black-box suite's Server, with demo data) and a
headless Debian Chromium driven through /usr/bin/chromedriver by python3-selenium.

NOWD_BIN names the directory holding nowd and nowctl, as for tests/blackbox.  A test whose
pages logged a console error (a SEVERE entry of the browser log) fails.
"""
import importlib.util
import os
import shutil
import tempfile
import urllib.parse

import pytest
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

_spec = importlib.util.spec_from_file_location(
    "sg_blackbox_conftest", os.path.join(os.path.dirname(__file__), "..", "blackbox", "conftest.py"))
blackbox = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(blackbox)

Server = blackbox.Server
PASSWORD = blackbox.PASSWORD
BIN = blackbox.BIN
nowctl = blackbox.nowctl
as_user = blackbox.as_user
wait_for = blackbox.wait_for
free_port = blackbox.free_port

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WAIT = 10  # seconds a page or an element may take


@pytest.fixture(scope="module")
def server():
    """One nowd with demo data for the whole test module."""
    s = Server()
    yield s
    s.stop()


def new_driver():
    """A headless Chromium with its own profile, 1366x900, browser log on."""
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="sg-chromium-")
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
              "--window-size=1366,900", "--no-first-run", "--disable-extensions",
              "--password-store=basic", f"--user-data-dir={profile}"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    d.set_page_load_timeout(30)
    d.sg_profile = profile
    return d


def console_errors(driver):
    """The SEVERE entries the browser logged since the last call."""
    return [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


def quit_driver(driver):
    driver.quit()
    shutil.rmtree(driver.sg_profile, ignore_errors=True)


@pytest.fixture
def driver():
    """A fresh browser per test (no cookie carries over); the test fails when a page logged
    a console error, unless it took them itself with console_errors(driver)."""
    d = new_driver()
    try:
        yield d
        errors = console_errors(d)
        assert not errors, errors
    finally:
        quit_driver(d)


def wait(driver, timeout=WAIT):
    return WebDriverWait(driver, timeout)


def path_of(driver):
    """The current page's path and query."""
    u = urllib.parse.urlsplit(driver.current_url)
    return u.path + ("?" + u.query if u.query else "")


def fill_sign_in(driver, user, password):
    """Types user and password into the sign-in form on screen and submits it."""
    wait(driver).until(EC.presence_of_element_located((By.ID, "user_name")))
    name = driver.find_element(By.ID, "user_name")
    name.clear()
    name.send_keys(user)
    pw = driver.find_element(By.ID, "user_password")
    pw.clear()
    pw.send_keys(password)
    driver.find_element(By.ID, "sysverb_login").click()


def sign_in(driver, server, user="admin", password=PASSWORD):
    """Signs in through the form at /login.do and returns once /navpage.do has loaded."""
    driver.get(server.url + "/login.do")
    fill_sign_in(driver, user, password)
    try:
        wait(driver).until(lambda d: urllib.parse.urlsplit(d.current_url).path == "/navpage.do")
    except TimeoutException:
        said = driver.find_elements(By.ID, "sg-login-message")
        raise AssertionError(f"{user} was not signed in: at {path_of(driver)}, the form said "
                             f"{said[0].text if said else None!r}") from None
    wait(driver).until(lambda d: d.execute_script("return document.readyState") == "complete")
    wait(driver).until(EC.presence_of_element_located((By.ID, "sg-main")))
