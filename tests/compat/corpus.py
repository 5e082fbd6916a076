"""The URL x user corpus: every route of src/api/routes.c, as every kind of caller.

build() returns the requests in the order they are sent.  The order matters: tokens are
obtained first, then everything that only reads runs on the untouched demo data (lists are
ordered by sys_id when no ORDERBY decides, so a list must not hold records the run created
under random sys_ids); then refusals and lock-outs; then writes, whose records mostly carry
chosen sys_ids, read back one at a time or ordered by number; revocations and the ACL change
come last.

A value a side learns from a response (a token, a generated sys_id) is captured into that
side's variables and written into later requests as {{name}}.
"""
import base64
import json
import os
import urllib.parse

ADMIN_ID = "6816f79cc0a8016401c5a33be04be441"
MAX_BODY = 65536  # glide.rest.max_content_length for the run (set up in compare.py)
GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../golden/query/cases.json")


class Req:
    def __init__(self, method, path, user="admin", headers=(), body=None, captures=None,
                 content_length=True, chunked=False, accept=True, ctype="application/json"):
        self.method, self.path, self.user = method, path, user
        self.extra_headers = list(headers)
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        self.body = body
        self.captures = captures
        self.content_length = content_length
        self.chunked = chunked
        self.accept = accept
        self.ctype = ctype
        self.auth = None  # set by build()

    def headers(self, vars_):
        out = []
        if self.auth:
            out.append(("Authorization", self.auth))
        if self.accept:
            out.append(("Accept", "application/json"))
        names = {k.lower() for k, _ in self.extra_headers}
        if self.body is not None and self.ctype and "content-type" not in names:
            out.append(("Content-Type", self.ctype))
        if self.chunked:
            out.append(("Transfer-Encoding", "chunked"))
        return out + self.extra_headers


def keep_vars(text):
    """Percent-encoding leaves {{name}} for the runner to fill in."""
    return text.replace("%7B%7B", "{{").replace("%7D%7D", "}}")


def qs(*pairs, raw=False):
    """A query string from (name, value) pairs, in order, percent-encoded like a client."""
    if raw:
        return "?" + "&".join(f"{k}={v}" for k, v in pairs)
    return keep_vars("?" + "&".join(f"{urllib.parse.quote(k, safe='')}={urllib.parse.quote(v, safe='')}"
                                    for k, v in pairs))


def basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def result_id(doc, resp):
    return doc["result"]["sys_id"]


def build(facts, admin_password, password):
    ids = facts["ids"]
    apps = facts["apps"]
    task, user, group, company, ci = ids["task"], ids["user"], ids["group"], ids["company"], ids["ci"]
    golden = ids["golden"]
    inc = sorted(n for n in task if n.startswith("INC"))
    inc1, inc2, inc3 = task[inc[0]], task[inc[1]], task[inc[2]]
    auth = {
        "admin": basic("admin", admin_password),
        "itil": basic("compat.itil", password),
        "norole": basic("compat.norole", password),
        "ws": basic("compat.ws", password),
        "reader": basic("compat.reader", password),
        "tz": basic("compat.tz", password),
        "lockme": basic("compat.lockme", password),
        "wrongpw": basic("compat.lockme", "not-the-password"),
        "inactive": basic("compat.inactive", password),
        "unknown": basic("no.such.user", password),
        "bearer_pw": "Bearer {{tok_pw}}",
        "bearer_pw2": "Bearer {{tok_pw2}}",
        "bearer_cc": "Bearer {{tok_cc}}",
        "bearer_open": "Bearer {{tok_open}}",
        "anon": None,
    }
    out = []

    def add(method, path, user="admin", **kw):
        r = Req(method, path, user, **kw)
        r.auth = auth[user] if user in auth else user
        out.append(r)
        return r

    def form(*pairs):
        return keep_vars(urllib.parse.urlencode(pairs)).encode()

    FORM = [("Content-Type", "application/x-www-form-urlencoded")]

    def token(*pairs, user="anon", headers=FORM, captures=None, path="/oauth_token.do"):
        return add("POST", path, user, headers=headers, body=form(*pairs), captures=captures,
                   accept=False, ctype=None)

    pw_id, pw_secret = apps["pw"]
    cc_id, cc_secret = apps["cc"]
    open_id, open_secret = apps["open"]
    off_id, off_secret = apps["off"]

    # ---- tokens for the rest of the run ----------------------------------------------------
    token(("grant_type", "password"), ("client_id", pw_id), ("client_secret", pw_secret),
          ("username", "compat.oauth"), ("password", password),
          captures={"tok_pw": lambda d, r: d["access_token"],
                    "ref_pw": lambda d, r: d["refresh_token"]})
    token(("grant_type", "client_credentials"), ("client_id", cc_id), ("client_secret", cc_secret),
          captures={"tok_cc": lambda d, r: d["access_token"]})
    token(("grant_type", "client_credentials"), ("client_id", open_id),
          ("client_secret", open_secret), captures={"tok_open": lambda d, r: d["access_token"]})

    # ---- every reader on every table -------------------------------------------------------
    readers = ["admin", "itil", "norole", "ws", "reader", "tz", "anon", "bearer_pw", "bearer_cc",
               "bearer_open"]
    tables = ["incident", "task", "problem", "change_request", "sys_user", "sys_user_group",
              "sys_user_grmember", "sys_user_role", "sys_user_has_role", "cmdb_ci",
              "cmdb_ci_server", "core_company", "cmn_location", "customer_account",
              "sys_properties", "sys_dictionary", "sys_db_object", "sys_choice",
              "sys_security_acl", "oauth_entity", "sys_auth_scope", "sys_journal_field",
              "sys_audit", "u_golden", "u_golden_child"]
    for who in readers:
        for t in tables:
            add("GET", f"/api/now/table/{t}" + qs(("sysparm_limit", "3")), who)
        add("GET", f"/api/now/table/incident/{inc1}", who)
        add("GET", f"/api/now/table/sys_user/{ADMIN_ID}", who)
        add("GET", f"/api/now/table/core_company/{company['ACME Europe']}", who)
        add("GET", f"/api/now/table/sys_user_group/{group['Service Desk']}", who)
        add("GET", f"/api/now/table/u_golden/{golden['k01']}", who)
        add("GET", "/api/now/stats/incident" + qs(("sysparm_count", "true")), who)
        add("GET", "/api/now/v1/table/incident" + qs(("sysparm_query", "active=true"),
                                                     ("sysparm_limit", "2")), who)
        add("HEAD", "/api/now/table/incident" + qs(("sysparm_limit", "1")), who)

    # ---- the golden query cases, as the Table API runs them --------------------------------
    with open(GOLDEN) as f:
        cases = json.load(f)
    for c in cases:
        if isinstance(c, list):
            c = {"table": c[0], "query": c[1]}
        if c.get("properties"):
            continue  # one such case runs in the write phase, around its property change
        pairs = [("sysparm_query", c["query"])] + list(c.get("pairs", {}).items())
        who = "tz" if c.get("time_zone") else "admin"
        add("GET", f"/api/now/table/{c['table']}" + qs(*pairs, ("sysparm_fields", "u_key,u_name")),
            who)
    for c in cases[::10]:
        if isinstance(c, list):
            add("GET", f"/api/now/table/{c[0]}" + qs(("sysparm_query", c[1]),
                                                    ("sysparm_display_value", "all")))

    # ---- incident queries on the demo data ---------------------------------------------------
    queries = [
        "active=true", "active=false", "priority<=2", "priority>2^ORDERBYnumber",
        "stateIN1,2,3", "stateNOT IN6,7,8^ORDERBYDESCnumber", "short_descriptionLIKEemail",
        "short_descriptionNOT LIKEemail", "short_descriptionSTARTSWITHNetwork",
        "short_descriptionENDSWITHtoner", "numberSTARTSWITHINC^ORDERBYDESCpriority",
        "caller_id.user_name=abel.tuter", "caller_id.company.name=ACME North America",
        "assignment_group.name=Service Desk^ORassignment_group.name=Network",
        "assigned_toISEMPTY", "assigned_toISNOTEMPTY", "cmdb_ciISNOTEMPTY^ORDERBYcmdb_ci.name",
        "cmdb_ci.name=mailsrv01", "company=" + company["ACME Europe"],
        "caller_id=" + user["abel.tuter"], "caller_id=Abel Tuter",
        "opened_at>javascript:gs.daysAgoStart(1)", "opened_at<javascript:gs.daysAgo(1)",
        "sys_created_onONToday@javascript:gs.beginningOfToday()@javascript:gs.endOfToday()",
        "sys_created_onRELATIVEGT@day@ago@2", "sys_created_on>javascript:gs.beginningOfLastYear()",
        "urgencySAMEASimpact", "urgencyGT_FIELDimpact", "impact=1^NQurgency=3",
        "categoryINsoftware,network^priority!=5", "close_codeISNOTEMPTY^ORDERBYclose_code",
        "123TEXTQUERY321=email", "correlation_id=rmm-alert-0001",
        "JOINincident.caller_id=sys_user.sys_id!company.name=ACME Europe",
        "RLQUERYsys_journal_field.element_id,>=1^ENDRLQUERY",
        "caller_idDYNAMIC90d1921e5f510100a9ad2572f2b477fe",
        "sys_class_name=incident^ORDERBYsys_created_on^ORDERBYnumber",
        "bogus=1", "numberLIKE%", "short_description=Printer out of toner",
        "stateBETWEEN2@6", "priorityANYTHING^ORDERBYpriority^ORDERBYDESCnumber",
        "ORDERBYassignment_group.name^ORDERBYnumber", "^^^", "active=true^EQ",
    ]
    for query in queries:
        add("GET", "/api/now/table/incident" + qs(("sysparm_query", query),
                                                 ("sysparm_fields", "number,short_description,priority")))
    for query in queries[::4]:
        add("GET", "/api/now/table/incident" + qs(("sysparm_query", query)), "itil")
        add("GET", "/api/now/table/task" + qs(("sysparm_query", query), ("sysparm_limit", "4"),
                                             ("sysparm_display_value", "true")), "reader")
    # queries in other tables
    for table, query in [
        ("sys_user", "active=true^ORDERBYuser_name"), ("sys_user", "user_nameSTARTSWITHcompat"),
        ("sys_user", "manager.user_name=carol"), ("sys_user", "roles=itil"),
        ("sys_user", "locked_out=false^failed_attempts=0^ORDERBYDESCuser_name"),
        ("sys_user_group", "nameINOps,Dev,Service Desk"), ("sys_user_grmember", "user.user_name=compat.reader"),
        ("cmdb_ci", "sys_class_name=cmdb_ci_linux_server"), ("cmdb_ci", "sys_class_nameINSTANCEOFcmdb_ci_server"),
        ("cmdb_ci_server", "ORDERBYname"), ("core_company", "vendor=true^ORmanufacturer=true"),
        ("core_company", "customer=true^ORDERBYDESCname"), ("sys_properties", "nameSTARTSWITHglide.oauth"),
        ("sys_properties", "name=glide.sys.default.tz"), ("sys_dictionary", "name=incident^ORDERBYelement"),
        ("sys_dictionary", "internal_type=reference^name=task^ORDERBYelement"),
        ("sys_db_object", "super_class.name=task^ORDERBYname"), ("sys_db_object", "nameSTARTSWITHu_"),
        ("sys_choice", "name=incident^element=state^ORDERBYsequence"),
        ("sys_security_acl", "nameSTARTSWITHincident^ORDERBYname^ORDERBYoperation"),
        ("sys_user_role", "nameSTARTSWITHsn_^ORDERBYname"), ("oauth_entity", "nameSTARTSWITHCompat^ORDERBYname"),
        ("sys_journal_field", "element=comments"), ("sys_audit", "tablename=incident^fieldname=state"),
    ]:
        add("GET", f"/api/now/table/{table}" + qs(("sysparm_query", query)))
        add("GET", f"/api/now/table/{table}" + qs(("sysparm_query", query), ("sysparm_limit", "2"),
                                                  ("sysparm_display_value", "all"),
                                                  ("sysparm_exclude_reference_link", "true")), "itil")

    # ---- options: prefixes, display values, fields, paging --------------------------------
    for prefix in ("/api/now/table", "/api/now/v1/table", "/api/now/v2/table"):
        for dv in (None, "true", "false", "all"):
            for excl in (None, "true"):
                pairs = [(k, v) for k, v in (("sysparm_display_value", dv),
                                             ("sysparm_exclude_reference_link", excl)) if v]
                add("GET", f"{prefix}/incident/{inc2}" + (qs(*pairs) if pairs else ""))
        add("GET", f"{prefix}/incident" + qs(("sysparm_limit", "2"), ("sysparm_offset", "1")))
        add("GET", f"{prefix}/incident" + qs(("sysparm_query", "number=NONE")))
        add("HEAD", f"{prefix}/incident/{inc1}")
        add("HEAD", f"{prefix}/incident" + qs(("sysparm_query", "number=NONE")))
        add("GET", f"{prefix}/incident/00000000000000000000000000000000")
        add("GET", f"{prefix}/no_such_table")
        add("GET", f"{prefix}/no_such_table/{inc1}")
        add("GET", f"{prefix}/incident/")
    field_sets = ["number", "number,short_description", "short_description,number,sys_id",
                  "caller_id,caller_id.name,caller_id.company.name", "assignment_group.name,assigned_to.email",
                  "nonsense,number", "sys_id", "", "number,,priority", "cmdb_ci.sys_class_name,cmdb_ci.name"]
    for fields in field_sets:
        for dv in ("false", "true", "all"):
            add("GET", "/api/now/table/incident" + qs(("sysparm_query", "ORDERBYnumber"),
                                                     ("sysparm_fields", fields),
                                                     ("sysparm_display_value", dv),
                                                     ("sysparm_limit", "3")))
    for pairs in [
        [("sysparm_limit", "1")], [("sysparm_limit", "0")], [("sysparm_limit", "-5")],
        [("sysparm_limit", "abc")], [("sysparm_limit", "2"), ("sysparm_offset", "6")],
        [("sysparm_limit", "2"), ("sysparm_offset", "100")], [("sysparm_offset", "-1")],
        [("sysparm_limit", "2"), ("sysparm_no_count", "true")],
        [("sysparm_limit", "2"), ("sysparm_suppress_pagination_header", "true")],
        [("sysparm_limit", "2"), ("sysparm_no_count", "true"), ("sysparm_offset", "6")],
        [("sysparm_limit", "3"), ("sysparm_query", "ORDERBYDESCnumber"), ("sysparm_offset", "2"),
         ("active", "true")],
        [("active", "true"), ("priority", "1")], [("caller_id", "Abel Tuter")],
        [("state", "In Progress")], [("sysparm_view", "desktop"), ("sysparm_limit", "1")],
        [("api_version", "2"), ("sysparm_limit", "1")], [("sysparm_limit", "1"), ("bogus", "x")],
    ]:
        add("GET", "/api/now/table/incident" + qs(*pairs))
    add("GET", "/api/now/table/incident" + qs(("sysparm_query", "active=true^ORDERBYnumber"),
                                             ("sysparm_limit", "2"), raw=True))
    add("GET", "/api/now/table/incident?sysparm_query=short_description%3DPrinter+out+of+toner")
    add("GET", "/api/now/table/incident?sysparm_limit=1&sysparm_limit=2&sysparm_offset=1")
    add("GET", "/api/now/table/incident?sysparm_limit&sysparm_offset=&=x&&sysparm_fields=number")
    add("GET", "/api/now/table/incident?sysparm_query=" + "number%3DINC0010001%5EOR" * 300 + "active=true")
    add("GET", "/api/now/table/sys_user" + qs(("sysparm_query", "sys_idIN" + ",".join(sorted(user.values()))),
                                             ("sysparm_fields", "user_name")))

    # ---- the Aggregate API ------------------------------------------------------------------
    for prefix in ("/api/now/stats", "/api/now/v1/stats"):
        for pairs in [
            [("sysparm_count", "true")],
            [("sysparm_count", "true"), ("sysparm_query", "active=true")],
            [("sysparm_avg_fields", "priority,impact"), ("sysparm_min_fields", "priority"),
             ("sysparm_max_fields", "urgency"), ("sysparm_sum_fields", "reassignment_count")],
            [("sysparm_count", "true"), ("sysparm_group_by", "state")],
            [("sysparm_count", "true"), ("sysparm_group_by", "priority"), ("sysparm_display_value", "true")],
            [("sysparm_count", "true"), ("sysparm_group_by", "assignment_group"),
             ("sysparm_display_value", "all")],
            [("sysparm_count", "true"), ("sysparm_group_by", "category,priority"),
             ("sysparm_order_by", "category")],
            [("sysparm_count", "true"), ("sysparm_group_by", "state"), ("sysparm_having", "count^*^>^1")],
            [("sysparm_count", "true"), ("sysparm_avg_fields", "priority"), ("sysparm_group_by", "category"),
             ("sysparm_orderby", "AVG^priority^DESC")],
            [("sysparm_count", "true"), ("sysparm_group_by", "caller_id.company")],
            [("sysparm_avg_fields", "nonsense")], [("sysparm_group_by", "nonsense")],
            [("sysparm_query", "active=true")], [],
            [("sysparm_count", "false")],
            [("sysparm_count", "true"), ("sysparm_having", "bad")],
        ]:
            add("GET", f"{prefix}/incident" + qs(*pairs))
    for table, pairs in [
        ("u_golden", [("sysparm_count", "true"), ("sysparm_sum_fields", "u_count,u_amount"),
                      ("sysparm_avg_fields", "u_amount"), ("sysparm_min_fields", "u_when"),
                      ("sysparm_max_fields", "u_day")]),
        ("u_golden", [("sysparm_count", "true"), ("sysparm_group_by", "u_status,u_flag"),
                      ("sysparm_display_value", "true")]),
        ("u_golden", [("sysparm_count", "true"), ("sysparm_group_by", "u_owner"),
                      ("sysparm_having", "count^*^>=^2"), ("sysparm_display_value", "all")]),
        ("task", [("sysparm_count", "true"), ("sysparm_group_by", "sys_class_name")]),
        ("cmdb_ci", [("sysparm_count", "true"), ("sysparm_group_by", "sys_class_name"),
                     ("sysparm_order_by", "sys_class_name^DESC")]),
        ("sys_user", [("sysparm_count", "true"), ("sysparm_query", "active=true")]),
        ("no_such_table", [("sysparm_count", "true")]),
    ]:
        add("GET", f"/api/now/stats/{table}" + qs(*pairs))
    for who in ("itil", "norole", "reader", "bearer_pw", "bearer_cc", "bearer_open", "anon"):
        add("GET", "/api/now/stats/incident" + qs(("sysparm_count", "true"), ("sysparm_group_by", "state")), who)
        add("GET", "/api/now/stats/u_golden" + qs(("sysparm_count", "true")), who)

    # ---- paths, methods and headers that are not the happy path ------------------------------
    for method, path in [
        ("GET", "/"), ("GET", "/api"), ("GET", "/api/"), ("GET", "/api/now"), ("GET", "/api/now/table"),
        ("GET", "/api/now/table/"), ("GET", "/api/now/tables/incident"), ("GET", "/api/now/v3/table/incident"),
        ("GET", f"/api/now/table/incident/{inc1}/extra"), ("GET", "/api/now/stats"),
        ("GET", "/api/now/v2/stats/incident"), ("GET", "/api/now/stats/incident/x"),
        ("GET", "/api/x_vendor/custom/thing"), ("GET", "/login.do"), ("GET", "/nav_to.do?uri=incident.do"),
        ("GET", "/oauth_token.do"), ("PUT", "/oauth_token.do"), ("DELETE", "/oauth_revoke.do"),
        ("GET", "/api/now/table/incident%2Fx"), ("GET", "/api/now/table/inc%69dent?sysparm_limit=1"),
        ("GET", "/api/now/table/../table/incident?sysparm_limit=1"), ("GET", "//api/now/table/incident"),
        ("GET", "/API/NOW/TABLE/incident"), ("GET", "/api/now/table/%E2%9C%93"),
        ("DELETE", "/api/now/table/incident"), ("PUT", "/api/now/table/incident"),
        ("PATCH", "/api/now/table/incident"), ("POST", f"/api/now/table/incident/{inc1}"),
        ("OPTIONS", "/api/now/table/incident"), ("TRACE", "/api/now/table/incident"),
        ("BREW", "/api/now/table/incident"), ("POST", "/api/now/stats/incident"),
        ("DELETE", "/api/now/v2/table/incident/"), ("GET", "/api/now/table/incident?sysparm_limit=1#frag"),
    ]:
        add(method, path)
        if path.startswith("/api/now/table/incident") and method in ("DELETE", "OPTIONS", "GET"):
            add(method, path, "anon")
            add(method, path, "norole")
    add("GET", "/api/now/table/incident" + qs(("sysparm_limit", "1")), "admin",
        headers=[("Accept", "application/xml")], accept=False)
    add("GET", "/api/now/table/incident" + qs(("sysparm_limit", "1")), "admin", accept=False)
    add("GET", "/api/now/table/incident" + qs(("sysparm_limit", "1")), "admin",
        headers=[("X-Snowglobe-Elevate", "security_admin")])
    add("GET", "/api/now/table/incident" + qs(("sysparm_limit", "1")), "itil",
        headers=[("X-Snowglobe-Elevate", "security_admin")])
    add("GET", "/api/now/table/incident?" + "sysparm_query=" + "a" * 70000, "admin")
    add("GET", "/api/now/table/incident" + qs(("sysparm_limit", "1")), "admin",
        headers=[("X-Filler", "b" * 70000)])
    add("GET", "/api/now/table/incident" + qs(("sysparm_query", "short_descriptionLIKE" + "x" * 3000)))

    # ---- authentication and the token service -------------------------------------------------
    for who in ("unknown", "inactive", "anon", "bearer_pw", "bearer_cc", "bearer_open", "ws"):
        add("GET", "/api/now/table/sys_user" + qs(("sysparm_limit", "1"), ("sysparm_fields", "user_name")), who)
    for raw in ["Basic", "Basic ", "Basic !!!notbase64", "Basic " + base64.b64encode(b"nocolon").decode(),
                "Basic " + base64.b64encode(b":").decode(), "basic " + auth["admin"][6:],
                "Digest username=admin", "Bearer", "Bearer ", "Bearer " + "x" * 86, "bearer {{tok_pw}}",
                "Bearer {{tok_pw}} extra", auth["admin"] + " ", "Negotiate abc"]:
        add("GET", "/api/now/table/incident" + qs(("sysparm_limit", "1"), ("sysparm_fields", "number")), raw)
    # the dedicated user is locked out after glide.user.max_unlock_attempts (5) failures
    for _ in range(7):
        add("GET", "/api/now/table/incident" + qs(("sysparm_limit", "1")), "wrongpw")
    add("GET", "/api/now/table/incident" + qs(("sysparm_limit", "1")), "lockme")
    add("GET", "/api/now/table/sys_user" + qs(("user_name", "compat.lockme"),
                                             ("sysparm_fields", "user_name,locked_out,failed_attempts")))
    # scopes: compat_table covers the Table API only
    add("GET", "/api/now/stats/incident" + qs(("sysparm_count", "true")), "bearer_cc")
    add("GET", "/api/now/v1/stats/incident" + qs(("sysparm_count", "true")), "bearer_open")
    add("GET", "/api/now/table/nope", "bearer_cc")
    add("GET", "/api/now/x/y", "bearer_cc")
    add("DELETE", "/api/now/table/incident", "bearer_cc")

    good_pw = [("grant_type", "password"), ("client_id", pw_id), ("client_secret", pw_secret),
               ("username", "compat.oauth"), ("password", password)]
    token(*good_pw[:4], ("password", "wrong"))
    token(*good_pw[:2], ("client_secret", "wrong"), *good_pw[3:])
    token(good_pw[0], ("client_id", "0" * 32), *good_pw[2:])
    token(*good_pw[1:])
    token(("grant_type", "authorization_code"), *good_pw[1:3], ("code", "abc"))
    token(("grant_type", "nonsense"), *good_pw[1:3])
    token(*good_pw[:3], ("username", "compat.lockme"), ("password", password))
    token(*good_pw[:3], ("username", "compat.ws"), ("password", password))
    token(*good_pw[:3], ("username", "compat.inactive"), ("password", password))
    token(*good_pw[:3], ("username", "compat.oauth"))
    token(("grant_type", "client_credentials"), ("client_id", off_id), ("client_secret", off_secret))
    token(("grant_type", "client_credentials"), ("client_id", pw_id), ("client_secret", pw_secret))
    token(("grant_type", "client_credentials"), ("client_id", cc_id), ("client_secret", pw_secret))
    token(("grant_type", "client_credentials"),
          user=basic(cc_id, cc_secret), captures={"tok_cc2": lambda d, r: d["access_token"]})
    token(("grant_type", "client_credentials"), user=basic(cc_id, "wrong"))
    token(*good_pw, headers=[("Content-Type", "application/json")])
    token(*good_pw, headers=[("Content-Type", "application/x-www-form-urlencoded; charset=UTF-8")],
          captures={"tok_pw3": lambda d, r: d["access_token"]})
    token(*good_pw, headers=[])
    add("POST", "/oauth_token.do" + qs(*good_pw), "anon", accept=False)
    add("POST", "/oauth_token.do", "anon", body=json.dumps(dict(good_pw)), accept=False)
    add("POST", "/oauth_token.do", "anon", headers=FORM, body="", accept=False)
    add("POST", "/oauth_token.do", "anon", headers=FORM, body="&&&===&grant_type", accept=False)
    add("POST", "/oauth_token.do", "anon", headers=FORM,
        body=b"grant_type=password&client_id=" + pw_id.encode() + b"%00&client_secret=x", accept=False)
    token(*good_pw, path="/oauth_token.do/")
    token(*good_pw, path="/oauth_token.do?extra=1")
    token(("grant_type", "refresh_token"), *good_pw[1:3], ("refresh_token", "{{ref_pw}}"),
          captures={"tok_pw2": lambda d, r: d["access_token"]})
    token(("grant_type", "refresh_token"), *good_pw[1:3], ("refresh_token", "not-a-token"))
    token(("grant_type", "refresh_token"), ("client_id", cc_id), ("client_secret", cc_secret),
          ("refresh_token", "{{ref_pw}}"))
    add("GET", "/api/now/table/incident" + qs(("sysparm_limit", "1"), ("sysparm_fields", "number")),
        "bearer_pw2")
    add("GET", "/api/now/table/sys_user" + qs(("user_name", "compat.oauth"),
                                             ("sysparm_fields", "user_name,failed_attempts,locked_out")))

    # ---- writes -------------------------------------------------------------------------------
    def sid(n):
        return "c0c0a000000000000000000000%06d" % n

    T = "/api/now/table"
    add("POST", f"{T}/incident", body={"short_description": "compat: generated id"},
        captures={"new1": result_id})
    add("GET", f"{T}/incident/{{{{new1}}}}")
    add("GET", f"{T}/incident/{{{{new1}}}}" + qs(("sysparm_display_value", "true")))
    add("POST", f"{T}/incident" + qs(("sysparm_input_display_value", "true"), ("sysparm_display_value", "all")),
        body={"sys_id": sid(1), "short_description": "compat: chosen id", "caller_id": "Abel Tuter",
              "impact": "1", "urgency": "2", "assignment_group": "Network", "category": "network"})
    add("POST", "/api/now/v2/table/incident" + qs(("sysparm_fields", "number,priority,sys_id,caller_id"),
                                                  ("sysparm_exclude_reference_link", "true")),
        body={"sys_id": sid(2), "short_description": "compat: v2", "caller_id": user["fred.luddy"]})
    add("POST", "/api/now/v1/table/incident", headers=[("X-no-response-body", "true")],
        body={"sys_id": sid(3), "short_description": "compat: no body"})
    add("POST", f"{T}/incident", body="{'sys_id':'%s','short_description':'single quoted, it''s'}" % sid(4))
    add("POST", f"{T}/incident", body=[{"sys_id": sid(5), "short_description": "first of two"},
                                       {"sys_id": sid(6), "short_description": "second of two"}])
    add("GET", f"{T}/incident/{sid(6)}")
    add("POST", f"{T}/incident" + qs(("sysparm_suppress_auto_sys_field", "true")),
        body={"sys_id": sid(7), "short_description": "compat: suppress"})
    add("POST", f"{T}/incident", body={"sys_id": sid(8), "short_description": "compat: stamps",
                                       "sys_created_on": "2020-01-02 03:04:05", "sys_created_by": "someone",
                                       "state": "2", "priority": "1", "unknown_field": "x",
                                       "comments": "first comment"})
    add("GET", f"{T}/incident/{sid(8)}" + qs(("sysparm_display_value", "true")), "itil")
    add("GET", f"{T}/incident/{sid(8)}" + qs(("sysparm_display_value", "all")))
    for body in ["{", "", "3", "[]", "[1]", "null", '"text"', "{'a':", "{\"short_description\":}",
                 "\xef\xbb\xbf{}", '{"short_description":"a"} trailing', '{"short_description":"\\ud800"}']:
        add("POST", f"{T}/incident", body=body.encode("latin-1"))
    add("POST", f"{T}/incident", body=None)
    add("POST", f"{T}/incident", headers=[("Content-Type", "text/plain")],
        body={"sys_id": sid(9), "short_description": "compat: text/plain"})
    add("POST", f"{T}/no_such_table", body={"a": "b"})
    add("POST", f"{T}/incident", "norole", body={"short_description": "not allowed"})
    add("POST", f"{T}/incident", "reader", body={"short_description": "not allowed"})
    add("POST", f"{T}/incident", "anon", body={"short_description": "not allowed"})
    add("POST", f"{T}/sys_user", "itil", body={"user_name": "not.allowed"})
    add("POST", f"{T}/incident", "itil", body={"sys_id": sid(10), "short_description": "compat: by itil",
                                               "caller_id": user["compat.itil"]})
    add("POST", f"{T}/incident", "ws", body={"sys_id": sid(11), "short_description": "compat: by ws"})
    add("POST", f"{T}/incident", "bearer_pw", body={"sys_id": sid(12), "short_description": "compat: bearer pw"})
    add("POST", f"{T}/incident", "bearer_cc", body={"sys_id": sid(13), "short_description": "compat: bearer cc"})
    add("POST", f"{T}/incident", "bearer_open", body={"sys_id": sid(14), "short_description": "compat: open"})
    add("POST", f"{T}/incident", body={"sys_id": sid(1), "short_description": "duplicate id"})
    add("POST", f"{T}/incident", body={"sys_id": "not-an-id", "short_description": "bad id"})
    add("POST", f"{T}/incident", body={"short_description": "x" * 5000, "sys_id": sid(15)})
    add("POST", f"{T}/incident", body={"sys_id": sid(16), "short_description": "caf\u00e9 \u2713 \U0001f600",
                                       "impact": 7, "urgency": True, "description": None, "category": ["x"]})
    # updates
    for method in ("PATCH", "PUT"):
        add(method, f"{T}/incident/{inc1}", body={"urgency": "1", "impact": "2"})
        add(method, f"{T}/incident/{sid(1)}" + qs(("sysparm_fields", "priority,urgency,impact")),
            body={"urgency": "3"})
    # Two journal entries of one record written in the same second come back in sys_id order:
    # each record gets at most one entry during the run.
    add("PATCH", f"{T}/incident/{inc2}", body={"comments": "compat comment"})
    add("PATCH", f"{T}/incident/{sid(2)}", body={"work_notes": "compat note"})
    add("GET", f"{T}/incident/{sid(2)}" + qs(("sysparm_display_value", "all"),
                                            ("sysparm_fields", "number,comments,work_notes,comments_and_work_notes")))
    add("GET", f"{T}/incident/{inc2}" + qs(("sysparm_display_value", "true"),
                                          ("sysparm_fields", "number,comments,work_notes,comments_and_work_notes")))
    add("PATCH", f"{T}/incident/{inc3}", body={"state": "6"})
    add("PATCH", f"{T}/incident/{inc3}", body={"state": "6", "close_code": "Solved (Permanently)"})
    add("PATCH", f"{T}/incident/{inc3}", body={"state": "6", "close_code": "Solved (Permanently)",
                                               "close_notes": "done"})
    add("GET", f"{T}/incident/{inc3}" + qs(("sysparm_fields", "state,active,resolved_at,close_code")))
    add("PATCH", f"{T}/incident/{inc3}", body={"state": "2"})
    add("PATCH", f"{T}/incident/{inc3}", body={"state": "7"})
    add("PATCH", f"{T}/incident/{inc3}" + qs(("sysparm_input_display_value", "true")),
        body={"assigned_to": "Beth Anglin", "assignment_group": "No Such Group"})
    add("PATCH", f"{T}/incident/00000000000000000000000000000000", body={"urgency": "1"})
    add("PATCH", f"{T}/no_such_table/{inc1}", body={"urgency": "1"})
    add("PATCH", f"{T}/incident/{inc1}", body=None)
    add("PATCH", f"{T}/incident/{inc1}", body="{bad")
    add("PATCH", f"{T}/incident/{sid(10)}", "itil", body={"short_description": "itil edits its own"})
    add("PATCH", f"{T}/incident/{sid(10)}", "norole", body={"short_description": "refused"})
    add("PATCH", f"{T}/incident/{sid(10)}", "reader", body={"short_description": "refused"})
    add("PATCH", f"{T}/sys_user/{ADMIN_ID}", "itil", body={"first_name": "refused"})
    add("PATCH", f"{T}/incident/{sid(8)}", headers=[("X-no-response-body", "true")], body={"urgency": "2"})
    add("PUT", f"{T}/incident/{sid(8)}" + qs(("sysparm_display_value", "true")),
        body={"caller_id": user["abel.tuter"], "cmdb_ci": ci["mailsrv01"]})
    add("PATCH", f"/api/now/v1/table/incident/{sid(8)}/", body={"urgency": "3"})
    # method override
    add("POST", f"{T}/incident/{sid(9)}", headers=[("X-HTTP-Method-Override", "PATCH")],
        body={"short_description": "overridden to PATCH"})
    add("POST", f"{T}/incident/{sid(9)}", headers=[("X-HTTP-Method-Override", "PUT")],
        body={"urgency": "1"})
    add("POST", f"{T}/incident" + qs(("sysparm_query", "ORDERBYnumber"), ("sysparm_fields", "number")),
        headers=[("X-HTTP-Method-Override", "GET")], body="")
    add("POST", f"{T}/incident/{sid(9)}", headers=[("X-HTTP-Method-Override", "GET")], body="")
    add("POST", f"{T}/incident/{sid(9)}", headers=[("X-HTTP-Method-Override", "BOGUS")], body="{}")
    add("GET", f"{T}/incident/{sid(9)}", headers=[("X-HTTP-Method-Override", "DELETE")])
    add("POST", f"{T}/incident/{sid(7)}", headers=[("X-HTTP-Method-Override", "DELETE")], body="")
    add("GET", f"{T}/incident/{sid(7)}")
    # deletes
    add("DELETE", f"{T}/incident/{{{{new1}}}}")
    add("GET", f"{T}/incident/{{{{new1}}}}")
    add("DELETE", f"{T}/incident/{{{{new1}}}}")
    add("DELETE", f"{T}/incident/{sid(10)}", "itil")
    add("DELETE", f"{T}/incident/{sid(10)}", "norole")
    add("DELETE", f"{T}/incident/{sid(10)}", "anon")
    add("DELETE", f"{T}/no_such_table/{sid(10)}")
    add("DELETE", f"/api/now/v2/table/incident/{sid(6)}", headers=[("X-no-response-body", "true")])
    add("DELETE", f"/api/now/v2/table/incident/{sid(5)}", headers=[("X-no-response-body", "true")])
    add("DELETE", f"{T}/sys_user/{ADMIN_ID}", "itil")
    # records in other tables
    add("POST", f"{T}/sys_user", body={"sys_id": sid(20), "user_name": "compat.new", "first_name": "New",
                                       "last_name": "User", "email": "new@example.com"})
    add("GET", f"{T}/sys_user/{sid(20)}", "itil")
    add("PATCH", f"{T}/sys_user/{sid(20)}", body={"manager": user["compat.itil"], "time_zone": "Europe/Amsterdam"})
    add("POST", f"{T}/sys_user_group", body={"sys_id": sid(21), "name": "Compat Writers", "manager": sid(20)})
    add("POST", f"{T}/sys_user_grmember", body={"sys_id": sid(22), "group": sid(21), "user": sid(20)})
    add("GET", f"{T}/sys_user_grmember" + qs(("group", sid(21)), ("sysparm_display_value", "true")))
    add("POST", f"{T}/core_company", body={"sys_id": sid(23), "name": "Compat Corp", "customer": "true"})
    add("GET", f"{T}/core_company" + qs(("sysparm_query", "ORDERBYname"), ("sysparm_fields", "name,customer")), "reader")
    add("POST", f"{T}/cmdb_ci_linux_server", body={"sys_id": sid(24), "name": "compat-lnx", "company": sid(23)})
    add("GET", f"{T}/cmdb_ci" + qs(("sysparm_query", "ORDERBYname"), ("sysparm_fields", "name,sys_class_name")))
    add("POST", f"{T}/u_golden", body={"sys_id": sid(25), "u_key": "n01", "u_name": "New one",
                                       "u_count": "4", "u_amount": "1.25", "u_status": "open",
                                       "u_when": "2026-01-02 03:04:05", "u_owner": "00000000000000000000000000000b0b"})
    add("POST", f"{T}/u_golden", body={"sys_id": sid(26), "u_key": "n02", "u_status": "bogus", "u_level": "9",
                                       "u_flag": "maybe", "u_count": "x", "u_day": "2026-13-45"})
    add("POST", f"{T}/u_golden_child", body={"sys_id": sid(27), "u_key": "n03", "u_extra": "child"})
    add("GET", f"{T}/u_golden" + qs(("sysparm_query", "ORDERBYu_key"), ("sysparm_display_value", "all")))
    add("GET", "/api/now/stats/u_golden" + qs(("sysparm_count", "true"), ("sysparm_group_by", "u_status")))
    # a property change, then the golden case that depends on it, then back
    prop = ids["property"]["glide.invalid_query.returns_no_rows"]
    add("PATCH", f"{T}/sys_properties/{prop}", body={"value": "true"})
    add("GET", f"{T}/u_golden" + qs(("sysparm_query", "bogus=1^u_key=k02"), ("sysparm_fields", "u_key")))
    add("PATCH", f"{T}/sys_properties/{prop}", body={"value": "false"})
    add("GET", f"{T}/u_golden" + qs(("sysparm_query", "bogus=1^u_key=k02"), ("sysparm_fields", "u_key")))
    add("PATCH", f"{T}/sys_properties/{prop}", "itil", body={"value": "true"})
    # the schema as data: a column, a table
    add("POST", f"{T}/sys_dictionary", body={"sys_id": sid(30), "name": "u_golden", "element": "u_added",
                                             "internal_type": "string", "max_length": "20"})
    add("PATCH", f"{T}/u_golden/{golden['k01']}", body={"u_added": "a value longer than twenty characters"})
    add("GET", f"{T}/u_golden/{golden['k01']}" + qs(("sysparm_fields", "u_key,u_added")))
    add("POST", f"{T}/sys_db_object", body={"sys_id": sid(31), "name": "u_compat", "label": "Compat"})
    add("POST", f"{T}/sys_dictionary", body={"sys_id": sid(32), "name": "u_compat", "element": "u_text",
                                             "internal_type": "string"})
    add("POST", f"{T}/u_compat", body={"sys_id": sid(33), "u_text": "hello"})
    add("GET", f"{T}/u_compat", "admin")
    add("GET", f"{T}/u_compat", "itil")
    add("GET", f"{T}/sys_dictionary/{ids['dictionary']}" + qs(("sysparm_display_value", "true")))
    add("POST", f"{T}/sys_db_object", body={"name": "bad name!", "label": "Bad"})
    # oversize and streamed bodies
    big = json.dumps({"sys_id": sid(40), "short_description": "big", "description": "d" * (MAX_BODY - 200)})
    add("POST", f"{T}/incident" + qs(("sysparm_fields", "sys_id,short_description")), body=big)
    add("POST", f"{T}/incident", body=b"{" + b" " * MAX_BODY + b"}")
    add("POST", f"{T}/incident", headers=[("Content-Length", str(MAX_BODY * 100))], body=b"{}",
        content_length=False)
    add("POST", f"{T}/incident", body=b"[" + b"1," * MAX_BODY + b"1]", content_length=False, chunked=True)
    add("POST", f"{T}/incident", body=json.dumps({"sys_id": sid(41), "short_description": "chunked"}).encode(),
        content_length=False, chunked=True)
    add("POST", "/oauth_token.do", "anon", headers=FORM, body=b"grant_type=" + b"x" * (MAX_BODY + 1), accept=False)
    add("GET", f"{T}/incident/{sid(41)}" + qs(("sysparm_fields", "short_description")))
    # what the writes left, read in a stable order
    add("GET", f"{T}/incident" + qs(("sysparm_query", "ORDERBYnumber"),
                                   ("sysparm_fields", "number,short_description,priority,state,active,caller_id")))
    add("GET", f"{T}/task" + qs(("sysparm_query", "sys_idSTARTSWITHc0c0a^ORDERBYsys_id"),
                               ("sysparm_display_value", "true")))
    add("GET", f"{T}/sys_audit" + qs(("sysparm_query", f"documentkey={inc3}^fieldname=close_notes"),
                                    ("sysparm_fields", "tablename,fieldname,oldvalue,newvalue,user")))
    add("GET", "/api/now/stats/incident" + qs(("sysparm_count", "true"), ("sysparm_group_by", "state,priority"),
                                             ("sysparm_order_by", "state")))
    add("GET", "/api/now/stats/incident" + qs(("sysparm_sum_fields", "priority"), ("sysparm_avg_fields", "urgency")))

    # ---- revocation, then access control changed over REST -------------------------------------
    add("POST", "/oauth_revoke_token.do" + qs(("token", "{{ref_pw}}")), "anon", accept=False)
    add("GET", "/api/now/table/incident" + qs(("sysparm_limit", "1")), "bearer_pw2")
    token(("grant_type", "refresh_token"), *good_pw[1:3], ("refresh_token", "{{ref_pw}}"))
    add("GET", "/oauth_revoke.do" + qs(("token", "{{tok_cc}}")), "anon", accept=False)
    add("GET", "/api/now/table/incident" + qs(("sysparm_limit", "1")), "bearer_cc")
    add("POST", "/oauth_revoke.do", "anon", headers=FORM, body=form(("token", "{{tok_open}}")), accept=False)
    add("GET", "/api/now/table/incident" + qs(("sysparm_limit", "1")), "bearer_open")
    add("POST", "/oauth_revoke_token.do", "anon", headers=FORM, body=form(("token", "unknown")), accept=False)
    add("GET", "/oauth_revoke_token.do", "anon", accept=False)
    add("GET", "/oauth_revoke_token.do?token=", "anon", accept=False)
    add("GET", "/api/now/table/incident" + qs(("sysparm_limit", "1"), ("sysparm_fields", "number")),
        "Bearer {{tok_cc2}}")
    acl = {"sys_id": sid(50), "name": "incident", "operation": "read", "type": "record",
           "condition": "priority=1"}
    add("POST", f"{T}/sys_security_acl", body=acl)
    add("POST", f"{T}/sys_security_acl", headers=[("X-Snowglobe-Elevate", "security_admin")], body=acl)
    add("POST", f"{T}/sys_security_acl", "itil", headers=[("X-Snowglobe-Elevate", "security_admin")],
        body=acl)
    add("GET", f"{T}/sys_security_acl/{sid(50)}")
    add("GET", f"{T}/sys_security_acl/{sid(50)}", headers=[("X-Snowglobe-Elevate", "security_admin")])
    add("POST", f"{T}/sys_security_acl_role", headers=[("X-Snowglobe-Elevate", "security_admin")],
        body={"sys_id": sid(51), "sys_security_acl": sid(50), "sys_user_role": "x_compat.reader"})
    for who in ("itil", "reader", "norole", "ws", "Bearer {{tok_pw3}}"):
        add("GET", f"{T}/incident" + qs(("sysparm_query", "ORDERBYnumber"), ("sysparm_fields", "number,priority")),
            who)
    add("DELETE", f"{T}/sys_security_acl/{sid(50)}", headers=[("X-Snowglobe-Elevate", "security_admin")])
    add("GET", f"{T}/incident" + qs(("sysparm_query", "ORDERBYnumber"), ("sysparm_fields", "number")), "reader")
    return out
