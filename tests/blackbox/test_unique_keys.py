"""Unique keys (issue 18 follow-up): the dictionary's `unique` flag (sys_user.user_name,
sys_user_role.name) refused on every write path -- Table API insert and update, import sets,
scripts, nowctl online and offline -- and nowctl's add commands saying "already exists".
An instance that already holds duplicates (the flag set after them) still opens and works."""
import os
import subprocess

from conftest import BIN, PASSWORD, nowctl

USERS = "/api/now/table/sys_user"
ROLES = "/api/now/table/sys_user_role"


def violation(r, value, key):
    assert r.status_code == 403, r.text
    assert r.json() == {"error": {"message": "Operation Failed",
                                  "detail": f"Unique Key violation detected by database (Duplicate entry "
                                            f"'{value}' for key '{key}')"},
                        "status": "failure"}


def count(server, path, query):
    r = server.get(path, params={"sysparm_query": query, "sysparm_fields": "sys_id"})
    assert r.status_code == 200, r.text
    return len(r.json()["result"])


def make(server, path, **fields):
    r = server.post(path, json=fields)
    assert r.status_code == 201, r.text
    return r.json()["result"]["sys_id"]


def test_table_api_insert_and_update(server):
    uid = make(server, USERS, user_name="uk.one", last_name="One")
    violation(server.post(USERS, json={"user_name": "uk.one", "last_name": "Again"}), "uk.one", "user_name")
    other = make(server, USERS, user_name="uk.two", last_name="Two")
    violation(server.patch(f"{USERS}/{other}", json={"user_name": "uk.one"}), "uk.one", "user_name")
    # Writing the record's own value again, or other fields, is no violation.
    assert server.patch(f"{USERS}/{uid}", json={"user_name": "uk.one", "title": "t"}).status_code == 200
    assert count(server, USERS, "user_name=uk.one") == 1
    make(server, ROLES, name="uk_role")
    violation(server.post(ROLES, json={"name": "uk_role"}), "uk_role", "name")
    assert count(server, ROLES, "name=uk_role") == 1
    # Empty values are not keys: two users without a user_name are fine.
    make(server, USERS, last_name="NoName1")
    make(server, USERS, last_name="NoName2")


def test_nowctl_add_says_already_exists(server):
    for offline in (False, True):
        nowctl(server, "user", "add", "uk.cli", "--password", PASSWORD + "x") if not offline else None
        r = nowctl(server, "user", "add", "uk.cli", offline=offline, ok=False)
        assert r.returncode == 1 and "user 'uk.cli' already exists" in r.stderr, r.stderr
        if not offline:
            nowctl(server, "role", "add", "uk_cli_role")
            nowctl(server, "oauth", "add", "uk-cli-app", "--grant", "client_credentials")
        r = nowctl(server, "role", "add", "uk_cli_role", offline=offline, ok=False)
        assert r.returncode == 1 and "role 'uk_cli_role' already exists" in r.stderr, r.stderr
        r = nowctl(server, "oauth", "add", "uk-cli-app", offline=offline, ok=False)
        assert r.returncode == 1 and "application 'uk-cli-app' already exists" in r.stderr, r.stderr
    assert count(server, USERS, "user_name=uk.cli") == 1
    assert count(server, "/api/now/table/oauth_entity", "name=uk-cli-app") == 1
    # ... so granting by name keeps working.
    nowctl(server, "role", "grant", "uk_cli_role", "--user", "uk.cli")


def test_scripts_and_import_sets(server):
    make(server, USERS, user_name="uk.script", last_name="S")
    env = dict(os.environ, NOWCTL_PASSWORD=PASSWORD)
    src = ("var u = new GlideRecord('sys_user'); u.initialize(); u.user_name = 'uk.script';"
           "u.last_name = 'dup'; var id = u.insert(); gs.print('id [' + id + ']');")
    # Scripts - Background offline (online it needs elevation; the same record layer).
    r = subprocess.run([os.path.join(BIN, "nowctl"), *server.where, "script", "run", "-"], input=src,
                       capture_output=True, text=True, env=env)
    assert "id [null]" in r.stdout or "id []" in r.stdout, (r.stdout, r.stderr)
    assert count(server, USERS, "user_name=uk.script") == 1
    # An import whose map does not coalesce on the key: the row ends in error, no duplicate.
    make(server, "/api/now/table/sys_db_object", name="u_uk_imp", label="u_uk_imp", super_class="sys_import_set_row")
    make(server, "/api/now/table/sys_dictionary", name="u_uk_imp", element="u_login", column_label="Login",
         internal_type="string", max_length="100")
    m = make(server, "/api/now/table/sys_transform_map", name="UK", source_table="u_uk_imp", target_table="sys_user")
    make(server, "/api/now/table/sys_transform_entry", map=m, source_field="u_login", target_field="user_name")
    r = server.post("/api/now/import/u_uk_imp", json={"u_login": "uk.script"})
    assert r.status_code == 201, r.text
    [res] = r.json()["result"]
    assert res["status"] == "error", res
    assert count(server, USERS, "user_name=uk.script") == 1


def test_existing_duplicates_still_open(fresh):
    """The flag set after duplicates exist: the instance opens (after a restart too), the
    duplicates stay and can be updated in their other fields; a new duplicate is refused."""
    r = fresh.get("/api/now/table/sys_dictionary",
                  params={"sysparm_query": "name=sys_user^element=user_name", "sysparm_fields": "sys_id,unique"})
    [row] = r.json()["result"]
    assert row["unique"] == "true"
    assert fresh.patch(f"/api/now/table/sys_dictionary/{row['sys_id']}", json={"unique": "false"}).status_code == 200
    a = make(fresh, USERS, user_name="uk.dup", last_name="A")
    b = make(fresh, USERS, user_name="uk.dup", last_name="B")
    assert fresh.patch(f"/api/now/table/sys_dictionary/{row['sys_id']}", json={"unique": "true"}).status_code == 200
    fresh.kill()
    fresh.start()
    assert count(fresh, USERS, "user_name=uk.dup") == 2
    assert fresh.patch(f"{USERS}/{b}", json={"title": "still here"}).status_code == 200
    violation(fresh.post(USERS, json={"user_name": "uk.dup"}), "uk.dup", "user_name")
    assert fresh.delete(f"{USERS}/{a}").status_code == 204
    r = nowctl(fresh, "user", "add", "uk.dup", ok=False)
    assert r.returncode == 1 and "already exists" in r.stderr


def test_detail_by_property(fresh):
    """The detail is uncertain: the database's message by default, or the generic one of a
    failed write when snowglobe.unique_violation.detail is operation."""
    fresh.set_property("snowglobe.unique_violation.detail", "operation")
    make(fresh, ROLES, name="uk_prop_role")
    r = fresh.post(ROLES, json={"name": "uk_prop_role"})
    assert r.status_code == 403 and r.json()["error"] == {
        "message": "Operation Failed", "detail": "Error during insert of sys_user_role (uk_prop_role)"}
    other = make(fresh, ROLES, name="uk_prop_role2")
    r = fresh.patch(f"{ROLES}/{other}", json={"name": "uk_prop_role"})
    assert r.status_code == 403 and r.json()["error"]["detail"] == \
        "Error during update of sys_user_role (uk_prop_role)"
