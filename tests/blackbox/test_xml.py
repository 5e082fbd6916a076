"""XML on the REST API (issue 13, item 6).

`Accept: application/xml` (or text/xml) answers every JSON API in ServiceNow's XML shapes:
<?xml version="1.0" encoding="UTF-8"?><response><result>..</result></response>, one <result> per
record of a list, references and display values as child elements, errors as
<response><error><detail/><message/></error><status>failure</status></response>.  XML request
bodies (<request><entry>..</entry></request>) create and update records.  A DOCTYPE or any entity
but the five predefined ones is refused; an Accept nothing can answer is a 406.  The JSON answers
do not change.
"""
import xml.etree.ElementTree as ET

import pytest
import requests

from conftest import PASSWORD, nowctl

DECL = '<?xml version="1.0" encoding="UTF-8"?>'
XML_TYPE = "application/xml;charset=UTF-8"
JSON_TYPE = "application/json;charset=UTF-8"
X = {"Accept": "application/xml"}
XB = {"Accept": "application/xml", "Content-Type": "application/xml"}


def parse(r):
    """The XML answer r: its declaration and type checked, its root returned."""
    assert r.headers["Content-Type"] == XML_TYPE, r.headers
    assert r.text.startswith(DECL + "<response>"), r.text[:200]
    root = ET.fromstring(r.content)
    assert root.tag == "response"
    return root


def obj(el, lists=()):
    """An element as the JSON it stands for: text for a leaf, an object of its children (a name
    repeated, or named in lists: an array)."""
    kids = list(el)
    if not kids:
        return el.text or ""
    out = {}
    for k in kids:
        v = obj(k, lists)
        if k.tag in lists or k.tag in out:
            prev = out.get(k.tag)
            out[k.tag] = (prev if isinstance(prev, list) else [] if prev is None else [prev]) + [v]
        else:
            out[k.tag] = v
    return out


def same_as_json(server, path, params=None, lists=()):
    """GETs path in JSON and in XML; the XML must carry exactly the JSON's content."""
    j = server.get(path, params=params)
    x = server.get(path, params=params, headers=X)
    assert x.status_code == j.status_code
    assert obj(parse(x), lists) == j.json(), x.text
    for h in ("X-Total-Count", "Link"):
        assert x.headers.get(h) == j.headers.get(h)
    return x


def error_xml(message, detail):
    return (DECL + f"<response><error><detail>{detail}</detail><message>{message}</message></error>"
            "<status>failure</status></response>")


def test_list_is_one_result_per_record(server):
    params = {"sysparm_limit": "3", "sysparm_fields": "number,short_description,caller_id,sys_id"}
    x = same_as_json(server, "/api/now/table/incident", params, lists=("result",))
    root = parse(x)
    assert [c.tag for c in root] == ["result"] * 3
    assert [c.tag for c in root[0]] == ["number", "short_description", "caller_id", "sys_id"]
    # an empty list: <response></response> (v2) and the 404 of v1 in XML
    empty = server.get("/api/now/v2/table/incident", params={"sysparm_query": "number=NOPE"}, headers=X)
    assert empty.status_code == 200 and empty.text == DECL + "<response></response>"
    v1 = server.get("/api/now/v1/table/incident", params={"sysparm_query": "number=NOPE"}, headers=X)
    assert v1.status_code == 404
    assert v1.text == error_xml("No Record found", "Records matching query not found. Check query "
                                "parameter or offset parameter")


@pytest.mark.parametrize("params", [
    {},
    {"sysparm_display_value": "true"},
    {"sysparm_display_value": "all"},
    {"sysparm_display_value": "all", "sysparm_exclude_reference_link": "true"},
    {"sysparm_exclude_reference_link": "true"},
    {"sysparm_fields": "number,caller_id.name,assignment_group,state"},
])
def test_record_shapes_match_json(server, params):
    inc = server.get("/api/now/table/incident", params={"sysparm_limit": "1", "sysparm_query": "caller_idISNOTEMPTY"})
    sys_id = inc.json()["result"][0]["sys_id"]
    same_as_json(server, f"/api/now/table/incident/{sys_id}", params)
    same_as_json(server, "/api/now/table/incident", dict(params, sysparm_limit="2"), lists=("result",))


def test_reference_and_display_value_children(server):
    inc = server.get("/api/now/table/incident", params={"sysparm_limit": "1", "sysparm_query": "caller_idISNOTEMPTY"})
    sys_id = inc.json()["result"][0]["sys_id"]
    root = parse(server.get(f"/api/now/table/incident/{sys_id}", headers=X,
                            params={"sysparm_display_value": "all", "sysparm_fields": "caller_id,state"}))
    caller = root.find("result/caller_id")
    assert [c.tag for c in caller] == ["display_value", "value", "link"]
    assert caller.find("link").text.endswith("/api/now/table/sys_user/" + caller.find("value").text)
    assert [c.tag for c in root.find("result/state")] == ["display_value", "value"]
    raw = parse(server.get(f"/api/now/table/incident/{sys_id}", headers=X, params={"sysparm_fields": "caller_id"}))
    assert [c.tag for c in raw.find("result/caller_id")] == ["link", "value"]


def test_create_read_update_delete_in_xml(server):
    body = ("<request><entry><short_description>Unable to connect to office wifi</short_description>"
            "<urgency>2</urgency><impact>2</impact></entry></request>")
    r = server.post("/api/now/table/incident", data=body, headers=XB)
    assert r.status_code == 201, r.text
    rec = obj(parse(r))["result"]
    assert rec["short_description"] == "Unable to connect to office wifi"
    assert rec["urgency"] == "2" and rec["impact"] == "2"
    sys_id = rec["sys_id"]
    assert r.headers["Location"].endswith(f"/api/now/table/incident/{sys_id}")
    # the same record in JSON
    assert server.get(f"/api/now/table/incident/{sys_id}").json()["result"]["short_description"] == \
        "Unable to connect to office wifi"
    # PUT with the fields under any root; PATCH with the documented form; text/xml answers text/xml
    r = server.put(f"/api/now/table/incident/{sys_id}", headers=XB,
                   data="<incident><short_description>put</short_description></incident>")
    assert r.status_code == 200 and obj(parse(r))["result"]["short_description"] == "put"
    r = server.patch(f"/api/now/table/incident/{sys_id}",
                     headers={"Accept": "text/xml", "Content-Type": "text/xml; charset=UTF-8"},
                     data="<request><entry><description>patched</description></entry></request>")
    assert r.status_code == 200 and r.headers["Content-Type"] == "text/xml;charset=UTF-8"
    rec = obj(ET.fromstring(r.content))["result"]
    assert rec["short_description"] == "put" and rec["description"] == "patched"
    # an XML body with a JSON answer
    r = server.patch(f"/api/now/table/incident/{sys_id}", headers={"Content-Type": "application/xml"},
                     data="<request><entry><urgency>3</urgency></entry></request>")
    assert r.status_code == 200 and r.headers["Content-Type"] == JSON_TYPE
    assert r.json()["result"]["urgency"] == "3"
    # delete: 204, no body, no type
    r = server.delete(f"/api/now/table/incident/{sys_id}", headers=X)
    assert r.status_code == 204 and r.content == b"" and "Content-Type" not in r.headers
    r = server.get(f"/api/now/table/incident/{sys_id}", headers=X)
    assert r.status_code == 404
    assert r.text == error_xml("No Record found",
                               "Record doesn&apos;t exist or ACL restricts the record retrieval")


def test_empty_request_and_json_declared_as_xml(server):
    r = server.post("/api/now/table/incident", data="<request/>", headers=XB,
                    params={"sysparm_fields": "sys_id,short_description"})
    assert r.status_code == 201, r.text
    assert obj(parse(r))["result"]["short_description"] == ""
    # a JSON body sent as application/xml is read as JSON (the Table API reads any declared type)
    r = server.post("/api/now/table/incident", data='{"short_description":"json as xml"}', headers=XB)
    assert r.status_code == 201 and obj(parse(r))["result"]["short_description"] == "json as xml"


def test_text_round_trips(server):
    text = "caf\u00e9 \u4e2d\u6587 \U0001F600 <b> & \"q\" 'a' ]]> tab\there"
    body = ("<request><entry><short_description>caf&#233; \u4e2d\u6587 &#x1F600; &lt;b&gt; &amp; "
            "&quot;q&quot; &apos;a&apos; ]]&gt; tab\there</short_description>"
            "<description><![CDATA[line1\r\nline2 <raw> & ]]></description></entry></request>")
    r = server.post("/api/now/table/incident", data=body.encode("utf-8"), headers=XB)
    assert r.status_code == 201, r.text
    sys_id = obj(parse(r))["result"]["sys_id"]
    j = server.get(f"/api/now/table/incident/{sys_id}").json()["result"]
    assert j["short_description"] == text
    assert j["description"] == "line1\nline2 <raw> & "
    x = server.get(f"/api/now/table/incident/{sys_id}", headers=X)
    assert obj(parse(x))["result"]["short_description"] == text
    assert "&lt;b&gt; &amp; &quot;q&quot; &apos;a&apos; ]]&gt;" in x.text
    # a CR is kept as a reference so that it reads back
    r = server.patch(f"/api/now/table/incident/{sys_id}", json={"description": "a\r\nb"})
    x = server.get(f"/api/now/table/incident/{sys_id}", headers=X, params={"sysparm_fields": "description"})
    assert "<description>a&#13;\nb</description>" in x.text
    assert obj(parse(x))["result"]["description"] == "a\r\nb"


def test_errors_in_xml(server):
    bad_table = server.get("/api/now/table/no_such_table", headers=X)
    assert bad_table.status_code == 400
    assert bad_table.text == (DECL + "<response><error><detail/><message>Invalid table no_such_table"
                              "</message></error><status>failure</status></response>")
    r = requests.get(server.url + "/api/now/table/incident", auth=("admin", "wrong"), headers=X)
    assert r.status_code == 401 and r.headers["Content-Type"] == XML_TYPE
    assert r.headers["WWW-Authenticate"] == 'BASIC realm="Service-now"'
    assert r.text == error_xml("User Not Authenticated", "Required to provide Auth information")
    r = server.session.request("BREW", server.url + "/api/now/table/incident", headers=X)
    assert r.status_code == 405 and parse(r).find("status").text == "failure"
    # (a POST with no body creates from defaults: an update with none is still refused)
    made = server.post("/api/now/table/incident", json={"short_description": "xml errors"}).json()
    r = server.session.patch(server.url + "/api/now/table/incident/" + made["result"]["sys_id"],
                             headers=XB, data="")
    assert r.status_code == 400 and parse(r).find("error/detail").text == "No request body found"


def test_no_rights_in_xml(server):
    name = "xml.norole"
    nowctl(server, "user", "add", name, "--password", "Xml-norole-12")
    r = requests.get(server.url + "/api/now/table/incident", auth=(name, "Xml-norole-12"), headers=X)
    assert r.status_code == 403, r.text
    j = requests.get(server.url + "/api/now/table/incident", auth=(name, "Xml-norole-12"))
    assert obj(parse(r)) == j.json()
    r = requests.post(server.url + "/api/now/table/incident", auth=(name, "Xml-norole-12"), headers=XB,
                      data="<request><entry><short_description>no</short_description></entry></request>")
    assert r.status_code == 403 and parse(r).find("status").text == "failure"


@pytest.mark.parametrize("body,why", [
    ("<request><entry><short_description>x</entry></request>", "does not match"),
    ("<request><entry>", "not closed"),
    ("not xml at all", "no root element"),
    ("<request>text</request>", "only text"),
    ("<a/><b/>", "more than one root"),
    ("<request><entry><a>\x01</a></entry></request>", "character XML does not allow"),
    ("<request><entry><a>&nbsp;</a></entry></request>", "entity"),
    ("<?xml version='1.0' encoding='ISO-8859-1'?><request/>", "only UTF-8"),
    ("<a>" * 40 + "x" + "</a>" * 40, "nested too deeply"),
])
def test_malformed_xml_is_400(server, body, why):
    before = server.get("/api/now/table/incident", params={"sysparm_limit": "1"}).headers["X-Total-Count"]
    r = server.post("/api/now/table/incident", data=body.encode("utf-8"), headers=XB)
    assert r.status_code == 400, r.text
    root = parse(r)
    assert root.find("error/message").text == "Exception while reading request"
    assert why in root.find("error/detail").text
    # the same refusal in JSON for a JSON client
    j = server.post("/api/now/table/incident", data=body.encode("utf-8"), headers={"Content-Type": "text/xml"})
    assert j.status_code == 400 and j.json()["error"]["detail"] == root.find("error/detail").text
    after = server.get("/api/now/table/incident", params={"sysparm_limit": "1"}).headers["X-Total-Count"]
    assert before == after


@pytest.mark.parametrize("body", [
    # billion laughs
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;">]><request><entry><short_description>&lol3;</short_description>'
    '</entry></request>',
    # external entity (XXE)
    '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    '<request><entry><short_description>&xxe;</short_description></entry></request>',
    # an external DTD
    '<!DOCTYPE request SYSTEM "http://127.0.0.1:1/evil.dtd"><request><entry><short_description>x'
    '</short_description></entry></request>',
    # an undeclared entity without a DTD
    '<request><entry><short_description>&xxe;</short_description></entry></request>',
])
def test_dtd_and_entities_are_refused(server, body):
    r = server.post("/api/now/table/incident", data=body, headers=XB)
    assert r.status_code == 400, r.text
    assert "root:" not in r.text and "lollol" not in r.text
    detail = parse(r).find("error/detail").text
    assert "DOCTYPE" in detail or "entity" in detail


@pytest.mark.parametrize("accept,status,ctype", [
    (None, 200, JSON_TYPE),
    ("*/*", 200, JSON_TYPE),
    ("application/json", 200, JSON_TYPE),
    ("application/xml", 200, XML_TYPE),
    ("text/xml", 200, "text/xml;charset=UTF-8"),
    ("application/json, application/xml", 200, JSON_TYPE),
    ("application/xml;q=0.9, application/json;q=0.5", 200, XML_TYPE),
    ("application/xml, */*;q=0.1", 200, XML_TYPE),
    ("application/json, text/plain, */*", 200, JSON_TYPE),
    ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", 200, XML_TYPE),
    ("text/plain", 406, JSON_TYPE),
    ("text/html, image/png", 406, JSON_TYPE),
    ("application/json;q=0", 406, JSON_TYPE),
])
def test_accept_negotiation(server, accept, status, ctype):
    s = requests.Session()
    s.auth = ("admin", PASSWORD)
    s.headers.pop("Accept", None)
    headers = {"Accept": accept} if accept is not None else {}
    r = s.get(server.url + "/api/now/table/incident", params={"sysparm_limit": "1"}, headers=headers)
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"] == ctype
    if status == 406:
        assert r.json() == {"error": {"message": "Not Acceptable",
                                      "detail": "The Accept header names no supported response format: "
                                                "application/json, application/xml, text/xml"},
                            "status": "failure"}


def test_json_answers_are_unchanged(server):
    """The JSON bytes do not depend on how JSON was asked for."""
    params = {"sysparm_limit": "3", "sysparm_display_value": "all"}
    s = requests.Session()
    s.auth = ("admin", PASSWORD)
    bodies = set()
    for accept in (None, "*/*", "application/json", "application/json, application/xml"):
        headers = {"Accept": accept} if accept else {}
        if accept is None:
            s.headers.pop("Accept", None)
        bodies.add(s.get(server.url + "/api/now/table/incident", params=params, headers=headers).content)
    assert len(bodies) == 1
    assert next(iter(bodies)).startswith(b'{"result":[{')


def test_aggregate_in_xml(server):
    same_as_json(server, "/api/now/stats/incident", {"sysparm_count": "true"})
    x = same_as_json(server, "/api/now/stats/incident", {"sysparm_count": "true", "sysparm_group_by": "priority"},
                     lists=("result", "groupby_fields"))
    first = parse(x).find("result")
    assert [c.tag for c in first] == ["stats", "groupby_fields"]
    assert first.find("stats/count").text.isdigit()
    r = server.get("/api/now/stats/incident", headers=X)
    assert r.status_code == 400
    assert parse(r).find("error/message").text == "No request parameter for aggregate operation specified"


def test_refusals_before_the_handler_in_xml(fresh):
    """The middleware's own answers (body limit) are XML too; OAuth endpoints stay JSON."""
    fresh.set_property("glide.rest.max_content_length", "100")
    body = "<request><entry><short_description>" + "x" * 200 + "</short_description></entry></request>"
    r = fresh.post("/api/now/table/incident", data=body, headers=XB)
    assert r.status_code == 400 and r.headers["Content-Type"] == XML_TYPE
    detail = parse(r).find("error/detail").text
    assert detail.startswith("Rejected large REST payload with content-length = ")
    r = requests.post(fresh.url + "/oauth_token.do", data={"grant_type": "password"}, headers=X)
    assert r.headers["Content-Type"].startswith("application/json")
