/*
 * xml.h - the REST API in XML: content negotiation on Accept, ServiceNow's
 * XML shapes for every JSON answer, and XML request bodies read into the
 * JSON the handlers expect.
 *
 * Handlers only ever speak JSON.  The middleware (middleware.c) asks
 * sg_xml_negotiate which format the client accepts, converts an XML body
 * with sg_xml_parse_body before the handler runs, and rewrites the JSON
 * answer (errors and its own refusals included) with sg_xml_answer.
 *
 * Shapes (docs/servicenow-behaviour.md, "XML"):
 *   <?xml version="1.0" encoding="UTF-8"?><response><result>..</result></response>
 * a member becomes an element of its name, an array repeats the element
 * (a list: one <result> per record), and an error is
 *   <response><error><detail>..</detail><message>..</message></error>
 *   <status>failure</status></response>.
 * A request body is <request><entry><field>value</field>..</entry></request>,
 * or any root whose children are the fields.
 */
#ifndef SG_API_XML_H
#define SG_API_XML_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "api/http.h"
#include "core/buf.h"
#include "core/err.h"

/* The content types of XML answers. */
#define SG_XML_TYPE      "application/xml;charset=UTF-8"
#define SG_XML_TEXT_TYPE "text/xml;charset=UTF-8"

/* Limits on a request body: element nesting, elements, a name's bytes. */
#define SG_XML_MAX_DEPTH    32
#define SG_XML_MAX_ELEMENTS 100000
#define SG_XML_MAX_NAME     1024

/* JSON is nested no deeper than this in an answer to be converted. */
#define SG_XML_MAX_JSON_DEPTH 64

enum sg_xml_format {
	SG_FMT_JSON, /* the default */
	SG_FMT_XML,
	SG_FMT_NONE, /* nothing the client accepts: 406 */
};

/*
 * Which format answers a request whose Accept header is accept (NULL or
 * blank: JSON).  Media ranges with their q-values: the format with the
 * highest q wins, then the one matched more exactly (a full type before a
 * "type/ *" range before "* / *"), then JSON.  A range's q is that of the
 * most exact range matching the format (RFC 9110).  application/json and
 * any +json type are JSON; application/xml, text/xml, text/ * and any +xml
 * type are XML.  *type (may be NULL) is set to the Content-Type to answer with:
 * SG_JSON_TYPE, SG_XML_TYPE, or SG_XML_TEXT_TYPE when text/xml was chosen;
 * static storage.
 */
enum sg_xml_format sg_xml_negotiate(const char *accept, const char **type);

/* Whether a request body of Content-Type ct (NULL when absent) is XML:
 * application/xml, text/xml or any +xml type, parameters ignored. */
bool sg_xml_is_xml_type(const char *ct);

/*
 * Writes the JSON text json[0..len) (an answer: an object) as ServiceNow's
 * XML into out, declaration included.  Values are escaped; a character
 * XML 1.0 cannot hold (a control character, invalid UTF-8) becomes U+FFFD;
 * a member name that is not an XML name has each offending character
 * written as _xHHHH_ (as XmlConvert.EncodeName does).  False when json is not
 * a JSON object (out then holds a partial document) or out failed (its
 * sticky error set).
 */
bool sg_xml_write(struct sg_buf *out, const char *json, size_t len);

/*
 * Parses a document (UTF-8, XML 1.0) into JSON: an element holding only
 * text is a string, one holding elements an object of its children (a name
 * repeated: an array of the values, in order); attributes, comments and
 * processing instructions are read and dropped.  A DOCTYPE, an entity other
 * than the five predefined ones, a character XML does not allow, mixed text
 * and elements, or more than the limits above is refused.  *out gets the
 * root element's value (new reference).  SG_ERR_OK; SG_ERR_BAD_XML with
 * *why set to a static description; SG_ERR_NOMEM.
 */
sg_err sg_xml_parse(const char *text, size_t len, json_t **out, const char **why);

/*
 * A request body as the record it carries: the root's <entry> when it has
 * that one child (<request><entry>..</entry></request>, the documented
 * form), else the root's children; an empty root is an empty record.
 * *out gets a JSON object or array (new reference).  Errors as sg_xml_parse.
 */
sg_err sg_xml_parse_body(const char *text, size_t len, json_t **out, const char **why);

/* The same as compact JSON text appended to out (the body the handler
 * reads); SG_ERR_NOMEM also when out fails. */
sg_err sg_xml_body_to_json(const char *text, size_t len, struct sg_buf *out, const char **why);

/*
 * Rewrites a JSON answer in resp as XML of Content-Type type: only when
 * its Content-Type is SG_JSON_TYPE and it has a body.  Out of memory marks
 * resp failed (sg_resp_final then answers the 500).  An answer that is not a
 * JSON object is left as it is.
 */
void sg_xml_answer(struct sg_resp *resp, const char *type);

#endif
