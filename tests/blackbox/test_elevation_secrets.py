"""Issue 12, defects 10 and 13: an admin cannot elevate itself over REST (security properties and
privileged role grants need security_admin in effect); password2 values are encrypted at rest
under a key kept outside the database; the access log masks secret parameters however they are
spelt."""
import base64
import ctypes
import ctypes.util
import http.client
import json
import os
import sqlite3
import stat
import subprocess


from conftest import BIN, PASSWORD, as_user, sqlite_only

ELEVATE = {"X-Snowglobe-Elevate": "security_admin"}


def err(message, detail):
    return json.dumps({"error": {"message": message, "detail": detail}, "status": "failure"},
                      separators=(",", ":"))


INSERT_FAILED = err("Operation Failed", "ACL Exception Insert Failed due to security constraints")
UPDATE_FAILED = err("Operation Failed", "ACL Exception Update Failed due to security constraints")
DELETE_FAILED = err("Operation Failed", "ACL Exception Delete Failed due to security constraints")


def offline(server, *args):
    r = subprocess.run([os.path.join(BIN, "nowctl"), *server.where, *args],
                       capture_output=True, text=True)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r


def prop_id(server, name):
    rows = server.get("/api/now/table/sys_properties", params={"name": name}).json()["result"]
    return rows[0]["sys_id"] if rows else None


def test_admin_cannot_allow_elevation_over_rest(fresh):
    admin = as_user(fresh, "admin", PASSWORD, ELEVATE)
    pid = prop_id(fresh, "snowglobe.rest.allow_elevation")
    r = admin("PATCH", f"/api/now/table/sys_properties/{pid}", json={"value": "true"})
    assert r.status_code == 403 and r.text == UPDATE_FAILED
    # nor by another spelling, a second row, a rename or a delete
    r = admin("POST", "/api/now/table/sys_properties", json={"name": "SnowGlobe.Rest.Allow_Elevation",
                                                             "value": "true"})
    assert r.status_code == 403 and r.text == INSERT_FAILED
    r = admin("POST", "/api/now/table/sys_properties", json={"name": "x_harmless", "value": "true"})
    assert r.status_code == 201
    r = admin("PATCH", f"/api/now/table/sys_properties/{r.json()['result']['sys_id']}",
              json={"name": "snowglobe.rest.allow_elevation"})
    assert r.status_code == 403 and r.text == UPDATE_FAILED
    r = admin("DELETE", f"/api/now/table/sys_properties/{pid}")
    assert r.status_code == 403 and r.text == DELETE_FAILED
    # the header still elevates nobody
    assert admin("GET", "/api/now/table/sys_security_acl").status_code == 403
    # the other security settings
    for name, value in (("glide.security.strict_elevate_privilege", "false"), ("glide.sm.default_mode", "allow"),
                        ("glide.security.admin.override.accessterm", "false"),
                        ("glide.oauth.inbound.client.credential.grant_type.enabled", "true"),
                        ("glide.user.max_unlock_attempts", "1000000")):
        pid = prop_id(fresh, name)
        if pid:
            r = admin("PATCH", f"/api/now/table/sys_properties/{pid}", json={"value": value})
            assert r.status_code == 403 and r.text == UPDATE_FAILED, name
        else:
            r = admin("POST", "/api/now/table/sys_properties", json={"name": name, "value": value})
            assert r.status_code == 403 and r.text == INSERT_FAILED, name
    # an ordinary property is still the admin's
    pid = prop_id(fresh, "glide.sys.date_format")
    assert admin("PATCH", f"/api/now/table/sys_properties/{pid}", json={"value": "yyyy-MM-dd"}).status_code == 200
    # offline (the system) may; then security_admin in effect may change the others
    offline(fresh, "property", "set", "snowglobe.rest.allow_elevation", "true")
    assert admin("GET", "/api/now/table/sys_security_acl").status_code == 200
    pid = prop_id(fresh, "glide.user.max_unlock_attempts")
    r = admin("PATCH", f"/api/now/table/sys_properties/{pid}", json={"value": "6"})
    assert r.status_code == 200, r.text
    r = fresh.patch(f"/api/now/table/sys_properties/{pid}", json={"value": "7"})  # not elevated
    assert r.status_code == 403 and r.text == UPDATE_FAILED


def test_admin_cannot_grant_itself_security_admin(fresh):
    offline(fresh, "property", "set", "snowglobe.rest.allow_elevation", "true")
    offline(fresh, "user", "add", "admin2", "--password", "Admin2-pass-1", "--role", "admin")
    a2 = as_user(fresh, "admin2", "Admin2-pass-1", ELEVATE)
    me = a2("GET", "/api/now/table/sys_user", params={"user_name": "admin2"}).json()["result"][0]["sys_id"]
    sec = fresh.get("/api/now/table/sys_user_role", params={"name": "security_admin"}).json()["result"][0]
    admin_role = fresh.get("/api/now/table/sys_user_role", params={"name": "admin"}).json()["result"][0]
    # directly, by name or sys_id
    for role in ("security_admin", sec["sys_id"], {"value": sec["sys_id"]}):
        r = a2("POST", "/api/now/table/sys_user_has_role", json={"user": me, "role": role})
        assert r.status_code == 403 and r.text == INSERT_FAILED, role
    # by turning a grant it has into one
    grant = a2("GET", "/api/now/table/sys_user_has_role",
               params={"sysparm_query": f"user={me}^role={admin_role['sys_id']}"}).json()["result"][0]
    r = a2("PATCH", f"/api/now/table/sys_user_has_role/{grant['sys_id']}", json={"role": sec["sys_id"]})
    assert r.status_code == 403 and r.text == UPDATE_FAILED
    # through a group
    r = a2("POST", "/api/now/table/sys_user_group", json={"name": "escalators"})
    assert r.status_code == 201
    group = r.json()["result"]["sys_id"]
    assert a2("POST", "/api/now/table/sys_user_grmember", json={"user": me, "group": group}).status_code == 201
    r = a2("POST", "/api/now/table/sys_group_has_role", json={"group": group, "role": "security_admin"})
    assert r.status_code == 403 and r.text == INSERT_FAILED
    # through containment, either way round
    r = a2("POST", "/api/now/table/sys_user_role_contains", json={"role": admin_role["sys_id"],
                                                                  "contains": sec["sys_id"]})
    assert r.status_code == 403 and r.text == INSERT_FAILED
    # by making security_admin an ordinary role, or a role of its own security_admin
    r = a2("PATCH", f"/api/now/table/sys_user_role/{sec['sys_id']}", json={"elevated_privilege": "false"})
    assert r.status_code == 403 and r.text == UPDATE_FAILED
    r = a2("POST", "/api/now/table/sys_user_role", json={"name": "security_admin"})
    assert r.status_code == 403 and r.text == INSERT_FAILED
    # so the header elevates it to nothing
    assert a2("GET", "/api/now/table/sys_security_acl").status_code == 403
    # admin, holding security_admin and elevated, may grant it
    r = fresh.post("/api/now/table/sys_user_has_role", json={"user": me, "role": "security_admin"}, headers=ELEVATE)
    assert r.status_code == 201, r.text
    assert a2("GET", "/api/now/table/sys_security_acl").status_code == 200


def secretbox_open(key, stored):
    """libsodium's crypto_secretbox_open_easy over "$sg1$" + base64(nonce + box)."""
    sodium = ctypes.CDLL(ctypes.util.find_library("sodium"))
    assert sodium.sodium_init() >= 0
    raw = base64.b64decode(stored[len("$sg1$"):])
    nonce, box = raw[:24], raw[24:]
    out = ctypes.create_string_buffer(len(box) - 16)
    assert sodium.crypto_secretbox_open_easy(out, box, ctypes.c_ulonglong(len(box)), nonce, key) == 0
    return out.raw.decode()


@sqlite_only("reads the key file beside the database and the stored value from the SQLite file")
def test_password2_property_encrypted_at_rest(fresh):
    key_file = os.path.join(fresh.data, "keys", "instance.key")
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    with open(key_file, "rb") as f:
        key = f.read()
    assert len(key) == 32
    r = fresh.post("/api/now/table/sys_properties", json={"name": "x_vendor.api.password", "type": "password2",
                                                          "value": "Hunter2-clear-secret"})
    assert r.status_code == 201, r.text
    got = r.json()["result"]
    assert got["value"].startswith("$sg1$") and "Hunter2" not in r.text
    # a value changed alone is encrypted too; a nonce per value
    r = fresh.patch(f"/api/now/table/sys_properties/{got['sys_id']}", json={"value": "Hunter3-clear-secret"})
    assert r.status_code == 200 and r.json()["result"]["value"].startswith("$sg1$")
    # writing back what was read keeps it (no double encryption)
    stored = r.json()["result"]["value"]
    r = fresh.patch(f"/api/now/table/sys_properties/{got['sys_id']}", json={"value": stored})
    assert r.status_code == 200 and r.json()["result"]["value"] == stored
    # in the SQLite file: only the encrypted form, which the key opens
    db = sqlite3.connect(os.path.join(fresh.data, "instance.db"))
    (value,) = db.execute("SELECT value FROM sys_properties WHERE name = 'x_vendor.api.password'").fetchone()
    db.close()
    assert value == stored and secretbox_open(key, value) == "Hunter3-clear-secret"
    for name in ("instance.db", "instance.db-wal"):
        path = os.path.join(fresh.data, name)
        if os.path.exists(path):
            with open(path, "rb") as f:
                data = f.read()
            assert b"Hunter2-clear-secret" not in data and b"Hunter3-clear-secret" not in data
    # offline nowctl finds the same key; a property that becomes password2 is encrypted then
    offline(fresh, "property", "set", "x_vendor.other", "Clear-before-type")
    offline(fresh, "property", "set", "x_vendor.other", "Clear-before-type", "--type", "password2")
    r = offline(fresh, "--json", "property", "get", "x_vendor.other")
    assert secretbox_open(key, json.loads(r.stdout)["value"]) == "Clear-before-type"


def test_access_log_masks_secret_parameters(fresh):
    spellings = {"%63lient_secret": "Sec-one-1", "Password": "Sec-two-2", "%74oken": "Sec-three-3",
                 "x-sn-apikey": "Sec-four-4", "ACCESS_TOKEN": "Sec-five-5", "refresh%5Ftoken": "Sec-six-6"}
    auth = "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
    for name, value in spellings.items():
        # http.client sends the path as written (requests would decode "%63" to "c")
        c = http.client.HTTPConnection("127.0.0.1", fresh.port, timeout=10)
        c.request("GET", f"/api/now/table/incident?sysparm_limit=1&{name}={value}&sysparm_fields=number",
                  headers={"Authorization": auth, "Accept": "application/json"})
        assert c.getresponse().status == 200
        c.close()
    out = fresh.output()
    for name, value in spellings.items():
        assert value not in out, name
        assert f"{name}=***" in out, name
    assert "sysparm_limit=1" in out
