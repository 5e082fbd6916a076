/*
 * Unit tests for api/xml.c: Accept negotiation, the JSON -> XML writer
 * (ServiceNow's shapes, escaping, element names) and the strict XML reader
 * of request bodies (the documented form, the refusals: DOCTYPE, entities,
 * malformed documents, limits).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/xml.h"
#include "core/json.h"

#define DECL "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"

/* ---- negotiation ---- */

static void negotiation(void **state)
{
	(void)state;
	static const struct {
		const char *accept;
		enum sg_xml_format f;
		const char *type;
	} cases[] = {
	    {NULL, SG_FMT_JSON, SG_JSON_TYPE},
	    {"", SG_FMT_JSON, SG_JSON_TYPE},
	    {"*/*", SG_FMT_JSON, SG_JSON_TYPE},
	    {"application/json", SG_FMT_JSON, SG_JSON_TYPE},
	    {"application/xml", SG_FMT_XML, SG_XML_TYPE},
	    {"APPLICATION/XML; charset=utf-8", SG_FMT_XML, SG_XML_TYPE},
	    {"text/xml", SG_FMT_XML, SG_XML_TEXT_TYPE},
	    {"text/*", SG_FMT_XML, SG_XML_TEXT_TYPE},
	    {"application/atom+xml", SG_FMT_XML, SG_XML_TYPE},
	    {"application/vnd.api+json", SG_FMT_JSON, SG_JSON_TYPE},
	    /* equal q and exactness: JSON, the default */
	    {"application/xml, application/json", SG_FMT_JSON, SG_JSON_TYPE},
	    {"application/json, application/xml", SG_FMT_JSON, SG_JSON_TYPE},
	    /* q decides */
	    {"application/json;q=0.5, application/xml", SG_FMT_XML, SG_XML_TYPE},
	    {"application/xml;q=0.4, application/json;q=0.5", SG_FMT_JSON, SG_JSON_TYPE},
	    /* an exact range beats a wildcard of the same q */
	    {"application/xml, */*", SG_FMT_XML, SG_XML_TYPE},
	    {"application/json, text/plain, */*", SG_FMT_JSON, SG_JSON_TYPE},
	    /* a browser */
	    {"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", SG_FMT_XML,
	     SG_XML_TYPE},
	    /* the most exact range's q applies: JSON refused, the wildcard lets XML in */
	    {"*/*, application/json;q=0", SG_FMT_XML, SG_XML_TYPE},
	    {"application/*;q=0.2, application/xml;q=0.1", SG_FMT_JSON, SG_JSON_TYPE},
	    /* nothing we produce: 406 */
	    {"text/plain", SG_FMT_NONE, SG_JSON_TYPE},
	    {"text/html, image/png", SG_FMT_NONE, SG_JSON_TYPE},
	    {"application/json;q=0", SG_FMT_NONE, SG_JSON_TYPE},
	    {"*/*;q=0", SG_FMT_NONE, SG_JSON_TYPE},
	    {"garbage", SG_FMT_NONE, SG_JSON_TYPE},
	    /* a malformed q is taken as 1 */
	    {"application/xml;q=high", SG_FMT_XML, SG_XML_TYPE},
	    {" , ,", SG_FMT_JSON, SG_JSON_TYPE},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *type = NULL;
		enum sg_xml_format f = sg_xml_negotiate(cases[i].accept, &type);
		if (f != cases[i].f || strcmp(type, cases[i].type) != 0)
			fail_msg("Accept %s: format %d type %s",
			         cases[i].accept ? cases[i].accept : "(none)", (int)f, type);
	}
	assert_true(sg_xml_is_xml_type("application/xml"));
	assert_true(sg_xml_is_xml_type("text/xml; charset=UTF-8"));
	assert_true(sg_xml_is_xml_type(" application/soap+xml"));
	assert_false(sg_xml_is_xml_type("application/json"));
	assert_false(sg_xml_is_xml_type("application/xmlfoo"));
	assert_false(sg_xml_is_xml_type("+xml"));
	assert_false(sg_xml_is_xml_type(NULL));
}

/* ---- writer ---- */

/* The XML for JSON text json; asserts it converts. */
static char *xml_of(const char *json)
{
	static char out[8192];
	struct sg_buf b;
	sg_buf_init(&b, 1 << 20);
	bool ok = sg_xml_write(&b, json, strlen(json));
	if (!ok)
		fail_msg("not converted: %s", json);
	snprintf(out, sizeof(out), "%s", sg_buf_str(&b));
	sg_buf_cleanup(&b);
	return out;
}

static bool converts(const char *json, size_t len)
{
	struct sg_buf b;
	sg_buf_init(&b, 1 << 20);
	bool ok = sg_xml_write(&b, json, len);
	sg_buf_cleanup(&b);
	return ok;
}

static void writer_shapes(void **state)
{
	(void)state;
	/* one record */
	assert_string_equal(xml_of("{\"result\":{\"number\":\"INC1\",\"active\":\"true\"}}"),
	                    DECL "<response><result><number>INC1</number><active>true</active>"
	                         "</result></response>");
	/* a list: <result> repeated; an empty list: none */
	assert_string_equal(xml_of("{\"result\":[{\"a\":\"1\"},{\"a\":\"2\"}]}"),
	                    DECL "<response><result><a>1</a></result><result><a>2</a></result>"
	                         "</response>");
	assert_string_equal(xml_of("{\"result\":[]}"), DECL "<response></response>");
	/* a reference: link and value children; display_value=all */
	assert_string_equal(
	    xml_of("{\"result\":{\"caller_id\":{\"link\":\"https://h/api/now/table/sys_user/1\","
	           "\"value\":\"1\"},\"state\":{\"display_value\":\"New\",\"value\":\"1\"}}}"),
	    DECL "<response><result><caller_id><link>https://h/api/now/table/sys_user/1</link>"
	         "<value>1</value></caller_id><state><display_value>New</display_value>"
	         "<value>1</value></state></result></response>");
	/* empty string, null, empty object: an empty element; numbers and booleans */
	assert_string_equal(
	    xml_of(
	        "{\"result\":{\"a\":\"\",\"b\":null,\"c\":{},\"d\":12.5e3,\"e\":false,\"f\":-1}}"),
	    DECL "<response><result><a/><b/><c/><d>12.5e3</d><e>false</e><f>-1</f></result>"
	         "</response>");
	/* an error: detail before message, then status */
	assert_string_equal(
	    xml_of("{\"error\":{\"message\":\"No Record found\",\"detail\":\"gone\"},"
	           "\"status\":\"failure\"}"),
	    DECL "<response><error><detail>gone</detail><message>No Record found</message>"
	         "</error><status>failure</status></response>");
	assert_string_equal(xml_of("{\"error\":{\"message\":\"m\",\"detail\":null},"
	                           "\"status\":\"failure\"}"),
	                    DECL "<response><error><detail/><message>m</message></error>"
	                         "<status>failure</status></response>");
	/* only the top-level error is reordered */
	assert_string_equal(xml_of("{\"result\":{\"error\":{\"message\":\"m\",\"detail\":\"d\"}}}"),
	                    DECL "<response><result><error><message>m</message><detail>d</detail>"
	                         "</error></result></response>");
	/* aggregate: stats and groupby_fields */
	assert_string_equal(
	    xml_of("{\"result\":[{\"stats\":{\"count\":\"3\"},\"groupby_fields\":"
	           "[{\"field\":\"priority\",\"value\":\"1\"}]}]}"),
	    DECL "<response><result><stats><count>3</count></stats><groupby_fields><field>priority"
	         "</field><value>1</value></groupby_fields></result></response>");
	/* nested arrays repeat the outer name; whitespace between tokens */
	assert_string_equal(xml_of(" { \"a\" : [ [ \"x\" , \"y\" ] , \"z\" ] } "),
	                    DECL "<response><a>x</a><a>y</a><a>z</a></response>");
}

static void writer_escapes(void **state)
{
	(void)state;
	assert_string_equal(xml_of("{\"a\":\"<b> & \\\"q\\\" 'x' ]]>\"}"),
	                    DECL "<response><a>&lt;b&gt; &amp; &quot;q&quot; &apos;x&apos; ]]&gt;"
	                         "</a></response>");
	/* CR kept as a reference; tab and LF as they are; controls and NUL as U+FFFD */
	assert_string_equal(xml_of("{\"a\":\"1\\r\\n2\\t3\\u0001\\u0000\\b\\f\"}"),
	                    DECL "<response><a>1&#13;\n2\t3\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
	                         "\xef\xbf\xbd</a></response>");
	/* UTF-8 passes; \u escapes and surrogate pairs decode; a lone surrogate is U+FFFD */
	assert_string_equal(xml_of("{\"a\":\"caf\xc3\xa9 \\u00e9 \\ud83d\\ude00 \\ud800x\"}"),
	                    DECL "<response><a>caf\xc3\xa9 \xc3\xa9 \xf0\x9f\x98\x80 "
	                         "\xef\xbf\xbdx</a></response>");
	/* invalid UTF-8 and U+FFFE in a string: U+FFFD */
	assert_string_equal(xml_of("{\"a\":\"\xff\xc3(\xef\xbf\xbe\"}"), DECL
	                    "<response><a>\xef\xbf\xbd\xef\xbf\xbd(\xef\xbf\xbd</a></response>");
	/* \/ and escaped backslash */
	assert_string_equal(xml_of("{\"a\":\"x\\/y\\\\z\"}"),
	                    DECL "<response><a>x/y\\z</a></response>");
}

static void writer_names(void **state)
{
	(void)state;
	/* a dot-walk is a name as it is */
	assert_string_equal(xml_of("{\"caller_id.name\":\"x\"}"),
	                    DECL "<response><caller_id.name>x</caller_id.name></response>");
	/* what a name cannot hold: _xHHHH_ */
	assert_string_equal(xml_of("{\"a b\":\"1\",\"1st\":\"2\",\"\":\"3\",\"<x>\":\"4\"}"), DECL
	                    "<response><a_x0020_b>1</a_x0020_b><_x0031_st>2</_x0031_st><_>3</_>"
	                    "<_x003C_x_x003E_>4</_x003C_x_x003E_></response>");
	/* non-ASCII, astral, and a literal "_x0041_" (its '_' encoded) */
	assert_string_equal(
	    xml_of("{\"\xc3\xa9\":\"1\",\"\xf0\x9f\x98\x80\":\"2\",\"_x0041_\":\"3\"}"),
	    DECL "<response><_x00E9_>1</_x00E9_><_x0001F600_>2</_x0001F600_>"
	         "<_x005F_x0041_>3</_x005F_x0041_></response>");
}

static void writer_refuses(void **state)
{
	(void)state;
	static const char *bad[] = {
	    "",
	    "[]",
	    "\"x\"",
	    "{",
	    "{\"a\"}",
	    "{\"a\":}",
	    "{\"a\":1",
	    "{\"a\":1}x",
	    "{\"a\":\"x",
	    "{\"a\":\\}",
	    "{\"a\":\"\\q\"}",
	    "{1:2}",
	    "{\"a\":[1,}",
	    "{\"a\":\"\\u12\"}",
	    "{\"a\":1,}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (converts(bad[i], strlen(bad[i])))
			fail_msg("converted: %s", bad[i]);
	/* nesting past the limit */
	char deep[512];
	size_t n = 0;
	n += (size_t)snprintf(deep + n, sizeof(deep) - n, "{\"a\":");
	for (int i = 0; i < SG_XML_MAX_JSON_DEPTH + 2; i++)
		deep[n++] = '[';
	deep[n++] = '1';
	for (int i = 0; i < SG_XML_MAX_JSON_DEPTH + 2; i++)
		deep[n++] = ']';
	deep[n++] = '}';
	assert_false(converts(deep, n));
	/* a buffer with too small a maximum fails (sticky) */
	struct sg_buf b;
	sg_buf_init(&b, 16);
	assert_false(sg_xml_write(&b, "{\"result\":{\"a\":\"b\"}}", 20));
	assert_true(sg_buf_failed(&b));
	sg_buf_cleanup(&b);
}

static void answer_rewrites_json_only(void **state)
{
	(void)state;
	struct sg_resp r;
	sg_resp_init(&r);
	sg_resp_error(&r, SG_ERR_NO_RECORD, NULL, NULL);
	sg_resp_header(&r, "X-Total-Count", "3");
	sg_resp_header(&r, "Content-Type", SG_JSON_TYPE);
	sg_xml_answer(&r, SG_XML_TYPE);
	assert_false(r.failed);
	assert_int_equal(r.status, 404);
	assert_string_equal(r.headers[1].value, SG_XML_TYPE);
	assert_string_equal(r.headers[0].value, "3");
	assert_string_equal(sg_buf_str(&r.body), DECL
	                    "<response><error><detail>Record doesn&apos;t exist or ACL restricts "
	                    "the record retrieval</detail><message>No Record found</message>"
	                    "</error><status>failure</status></response>");
	sg_resp_cleanup(&r);

	/* another type: untouched */
	sg_resp_init(&r);
	sg_buf_puts(&r.body, "{\"a\":1}");
	sg_resp_header(&r, "Content-Type", "application/octet-stream");
	sg_xml_answer(&r, SG_XML_TYPE);
	assert_string_equal(sg_buf_str(&r.body), "{\"a\":1}");
	assert_string_equal(r.headers[0].value, "application/octet-stream");
	sg_resp_cleanup(&r);

	/* JSON that is not an object: untouched; no body: untouched */
	sg_resp_init(&r);
	sg_buf_puts(&r.body, "[1]");
	sg_resp_header(&r, "Content-Type", SG_JSON_TYPE);
	sg_xml_answer(&r, SG_XML_TYPE);
	assert_string_equal(sg_buf_str(&r.body), "[1]");
	assert_string_equal(r.headers[0].value, SG_JSON_TYPE);
	sg_buf_reset(&r.body);
	sg_xml_answer(&r, SG_XML_TYPE);
	assert_string_equal(r.headers[0].value, SG_JSON_TYPE);
	sg_resp_cleanup(&r);
}

/* ---- reader ---- */

/* The JSON text of the body parse of xml; asserts it parses. */
static char *body_of(const char *xml)
{
	static char out[8192];
	json_t *v;
	const char *why = NULL;
	sg_err err = sg_xml_parse_body(xml, strlen(xml), &v, &why);
	if (err)
		fail_msg("refused (%s): %s", why ? why : "?", xml);
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	assert_non_null(s);
	snprintf(out, sizeof(out), "%s", s);
	free(s);
	json_decref(v);
	return out;
}

static void reader_forms(void **state)
{
	(void)state;
	/* the documented form */
	assert_string_equal(
	    body_of("<request><entry><short_description>Unable to connect to office wifi"
	            "</short_description><urgency>2</urgency></entry></request>"),
	    "{\"short_description\":\"Unable to connect to office wifi\",\"urgency\":\"2\"}");
	/* a root holding the fields; declaration, BOM, comments, PIs, whitespace */
	assert_string_equal(body_of("\xef\xbb\xbf<?xml version=\"1.0\" encoding=\"utf-8\" ?>\n"
	                            "<!-- c --><?pi x?>\n<incident>\n  <a>1</a>\n  <!-- c -->\n"
	                            "  <b/>\n</incident>\n<!-- after -->\n"),
	                    "{\"a\":\"1\",\"b\":\"\"}");
	/* empty root, empty entry: an empty record */
	assert_string_equal(body_of("<request/>"), "{}");
	assert_string_equal(body_of("<request> </request>"), "{}");
	assert_string_equal(body_of("<request><entry/></request>"), "{}");
	/* several entries: an array (the Table API takes the first) */
	assert_string_equal(body_of("<request><entry><a>1</a></entry><entry><a>2</a></entry>"
	                            "</request>"),
	                    "[{\"a\":\"1\"},{\"a\":\"2\"}]");
	/* entry among other fields is a field */
	assert_string_equal(body_of("<r><entry>x</entry><b>y</b></r>"),
	                    "{\"entry\":\"x\",\"b\":\"y\"}");
	/* nested: a reference given as an object; repeated names: an array */
	assert_string_equal(body_of("<r><caller_id><value>abc</value></caller_id><w>1</w><w>2</w>"
	                            "<w>3</w></r>"),
	                    "{\"caller_id\":{\"value\":\"abc\"},\"w\":[\"1\",\"2\",\"3\"]}");
	/* attributes are read and dropped; namespaces are names */
	assert_string_equal(body_of("<r xmlns:x='u' a=\"1\" b = '&amp;&#65;'><x:f k=\"v\">t</x:f>"
	                            "</r>"),
	                    "{\"x:f\":\"t\"}");
	/* text: entities, references, CDATA, CR LF -> LF, whitespace kept */
	assert_string_equal(
	    body_of("<r><a>&lt;&gt;&amp;&quot;&apos;&#233;&#x1F600;</a>"
	            "<b><![CDATA[<not> &a tag;]]> and <![CDATA[]]>x</b><c>1\r\n2\r3</c>"
	            "<d>  sp  </d><e><![CDATA[a\r\nb]]></e></r>"),
	    "{\"a\":\"<>&\\\"'\xc3\xa9\xf0\x9f\x98\x80\",\"b\":\"<not> &a tag; and x\","
	    "\"c\":\"1\\n2\\n3\",\"d\":\"  sp  \",\"e\":\"a\\nb\"}");
	/* a tab, a non-ASCII name */
	assert_string_equal(body_of("<r><\xc3\xa9t\xc3\xa9>\t</\xc3\xa9t\xc3\xa9></r>"),
	                    "{\"\xc3\xa9t\xc3\xa9\":\"\\t\"}");
	/* whitespace between elements is not mixed content; end tag with space */
	assert_string_equal(body_of("<r>\n\t<a>1</a >\n</r >"), "{\"a\":\"1\"}");
}

static void body_as_json_text(void **state)
{
	(void)state;
	const char *xml = "<request><entry><a>1</a><b>&lt;x&gt;</b></entry></request>";
	struct sg_buf b;
	const char *why = NULL;
	sg_buf_init(&b, 1024);
	assert_int_equal(sg_xml_body_to_json(xml, strlen(xml), &b, &why), SG_ERR_OK);
	assert_string_equal(sg_buf_str(&b), "{\"a\":\"1\",\"b\":\"<x>\"}");
	sg_buf_cleanup(&b);
	/* a buffer too small is out of memory, never shorter JSON */
	sg_buf_init(&b, 10);
	assert_int_equal(sg_xml_body_to_json(xml, strlen(xml), &b, &why), SG_ERR_NOMEM);
	sg_buf_cleanup(&b);
	sg_buf_init(&b, 1024);
	assert_int_equal(sg_xml_body_to_json("<r><a>", 6, &b, &why), SG_ERR_BAD_XML);
	assert_non_null(why);
	sg_buf_cleanup(&b);
}

/* Asserts that xml is refused with a detail holding want. */
static void refused(const char *xml, size_t len, const char *want)
{
	json_t *v = (json_t *)1;
	const char *why = NULL;
	sg_err err = sg_xml_parse_body(xml, len, &v, &why);
	if (err != SG_ERR_BAD_XML || v != NULL || !why || !strstr(why, want))
		fail_msg("%.*s: err %d why %s (wanted %s)", (int)len, xml, (int)err,
		         why ? why : "(none)", want);
}

#define REFUSED(x, want) refused(x, strlen(x), want)

static void reader_refuses(void **state)
{
	(void)state;
	/* no DTD at all: billion laughs, external entities */
	REFUSED("<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 "
	        "\"&lol;&lol;&lol;\">]><r><a>&lol2;</a></r>",
	        "DOCTYPE");
	REFUSED("<!DOCTYPE r [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]><r><a>&xxe;</a></r>",
	        "DOCTYPE");
	REFUSED("<!doctype r SYSTEM \"http://x/\"><r/>", "DOCTYPE");
	REFUSED("<r><!DOCTYPE r><a/></r>", "DOCTYPE");
	REFUSED("<r><a>&xxe;</a></r>", "entity");
	REFUSED("<r><a>&nbsp;</a></r>", "entity");
	REFUSED("<r a=\"&ext;\"/>", "entity");
	REFUSED("<r><a>a & b;</a></r>", "entity");
	REFUSED("<r><a>a & b</a></r>", "bare");
	REFUSED("<r><a>a &</a></r>", "bare");
	/* characters */
	REFUSED("<r><a>\xff</a></r>", "UTF-8");
	REFUSED("<r><a>\xc3</a></r>", "UTF-8");
	REFUSED("<r><a>\x01</a></r>", "character");
	refused("<r><a>\0</a></r>", 13, "character");
	REFUSED("<r><a>&#0;</a></r>", "character");
	REFUSED("<r><a>&#xD800;</a></r>", "character");
	REFUSED("<r><a>&#x110000;</a></r>", "character");
	REFUSED("<r><a>&#12a;</a></r>", "reference");
	REFUSED("<r><a>&#;</a></r>", "reference");
	REFUSED("<r><a>&#x;</a></r>", "reference");
	REFUSED("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><r/>", "UTF-8");
	REFUSED("<?xml version=\"1.0\" encoding=\"UTF-16\"?><r/>", "UTF-8");
	/* structure */
	REFUSED("", "root");
	REFUSED("   ", "root");
	REFUSED("hello", "root");
	REFUSED("<r>", "not closed");
	REFUSED("<r><a></r>", "match");
	REFUSED("<r><a></b></r>", "match");
	REFUSED("<r></r><r></r>", "more than one root");
	REFUSED("<r></r>x", "more than one root");
	REFUSED("<r>text</r>", "only text");
	REFUSED("<r>text<a>1</a></r>", "mixes");
	REFUSED("<r><a>1</a>tail</r>", "mixes");
	REFUSED("<r><1a/></r>", "name");
	REFUSED("< r/>", "name");
	REFUSED("<r a=1/>", "quoted");
	REFUSED("<r a/>", "no value");
	REFUSED("<r a=\"<\"/>", "attribute");
	REFUSED("<r a=\"1\"b=\"2\"/>", "start tag");
	REFUSED("<r a=\"1/>", "attribute");
	REFUSED("<r><![CDATA[x</r>", "CDATA");
	REFUSED("<r><!-- x</r>", "comment");
	REFUSED("<r><?pi x</r>", "processing");
	REFUSED("<r><![IGNORE[x]]></r>", "'<!'");
	REFUSED("<r/><?xml version=\"1.0\"?>", "misplaced");
	REFUSED("<?xml version=\"1.0\"", "declaration");
}

static void reader_limits(void **state)
{
	(void)state;
	/* nesting: the limit itself is read, one more is refused */
	char *doc = malloc(64 * 1024);
	assert_non_null(doc);
	for (int depth = SG_XML_MAX_DEPTH; depth <= SG_XML_MAX_DEPTH + 1; depth++) {
		size_t n = 0;
		for (int i = 0; i < depth; i++)
			n += (size_t)sprintf(doc + n, "<a>");
		n += (size_t)sprintf(doc + n, "x");
		for (int i = 0; i < depth; i++)
			n += (size_t)sprintf(doc + n, "</a>");
		json_t *v;
		const char *why;
		sg_err err = sg_xml_parse(doc, n, &v, &why);
		if (depth <= SG_XML_MAX_DEPTH) {
			assert_int_equal(err, SG_ERR_OK);
			json_decref(v);
		} else {
			assert_int_equal(err, SG_ERR_BAD_XML);
			assert_non_null(strstr(why, "nested"));
		}
	}
	/* a name too long */
	size_t n = (size_t)sprintf(doc, "<r><");
	memset(doc + n, 'a', SG_XML_MAX_NAME + 1);
	n += SG_XML_MAX_NAME + 1;
	n += (size_t)sprintf(doc + n, "/></r>");
	refused(doc, n, "too long");
	free(doc);
	/* too many elements */
	size_t cap = 8 * (SG_XML_MAX_ELEMENTS + 2) + 16;
	doc = malloc(cap);
	assert_non_null(doc);
	n = (size_t)sprintf(doc, "<r>");
	for (int i = 0; i < SG_XML_MAX_ELEMENTS; i++)
		n += (size_t)sprintf(doc + n, "<a/>");
	n += (size_t)sprintf(doc + n, "</r>");
	refused(doc, n, "too many");
	free(doc);
}

/* Whatever a string holds, the writer's XML reads back as the same string
 * (U+FFFD for what XML cannot hold). */
static void round_trip(void **state)
{
	(void)state;
	static const char *texts[] = {
	    "plain",
	    "<&>\"' ]]> &amp;",
	    "line1\r\nline2\rline3\n\ttab",
	    "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xe4\xb8\xad\xe6\x96\x87",
	    "  leading and trailing  ",
	    "&#233; &lt; literally",
	};
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		json_t *in = json_pack("{s:{s:s}}", "result", "f", texts[i]);
		char *json = json_dumps(in, JSON_COMPACT);
		struct sg_buf b;
		sg_buf_init(&b, 1 << 20);
		assert_true(sg_xml_write(&b, json, strlen(json)));
		json_t *back;
		const char *why;
		assert_int_equal(sg_xml_parse(b.data, b.len, &back, &why), SG_ERR_OK);
		const char *got =
		    json_string_value(json_object_get(json_object_get(back, "result"), "f"));
		assert_non_null(got);
		assert_string_equal(got, texts[i]);
		json_decref(back);
		sg_buf_cleanup(&b);
		free(json);
		json_decref(in);
	}
}

int main(void)
{
	sg_json_init();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(negotiation),       cmocka_unit_test(writer_shapes),
	    cmocka_unit_test(writer_escapes),    cmocka_unit_test(writer_names),
	    cmocka_unit_test(writer_refuses),    cmocka_unit_test(answer_rewrites_json_only),
	    cmocka_unit_test(reader_forms),      cmocka_unit_test(reader_refuses),
	    cmocka_unit_test(reader_limits),     cmocka_unit_test(round_trip),
	    cmocka_unit_test(body_as_json_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
