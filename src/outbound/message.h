/*
 * message.h - REST messages as request templates: a sys_rest_message and
 * one of its HTTP methods (sys_rest_message_fn), or an ad hoc message built
 * by a script, turned into one struct sg_out_request.
 *
 * ServiceNow's rules, as reproduced here [9.5]: ${name} is replaced in the
 * endpoint, the header values, the query parameter values and the body (a
 * body is sent for POST, PUT and PATCH only); a variable that was never given
 * a value stays as the literal text "${name}"; the function's endpoint,
 * headers and authentication win over the message's ("inherit from parent"
 * takes the message's); query parameters are URL-encoded and appended to the
 * endpoint after substitution.
 */
#ifndef SG_OUTBOUND_MESSAGE_H
#define SG_OUTBOUND_MESSAGE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/kv.h"
#include "outbound/outbound.h"

/* The most variables, headers and query parameters one message may hold. */
#define SG_OUT_MAX_ITEMS 200
/* The most bytes a built URL, header value or body may reach. */
#define SG_OUT_MAX_URL  (64 * 1024)
#define SG_OUT_MAX_BODY (8 * 1024 * 1024)

struct sg_out_msg {
	char *method;    /* upper case; new string */
	char *endpoint;  /* template; new string, "" when none */
	char *body;      /* template; NULL: none */
	json_t *headers; /* [[name, value template], ...]; new reference */
	json_t *params;  /* [[name, value template], ...] in order */
	json_t *vars;    /* {name: value as substituted (escaped already)} */
	enum sg_out_auth auth;
	char auth_profile[SG_ID_LEN + 1]; /* "" when the type has none */
	char message_id[SG_ID_LEN + 1];   /* "" for an ad hoc message */
	char function_id[SG_ID_LEN + 1];
	char *source; /* "<message>.<function>", or NULL (ad hoc) */
	long timeout_ms;
};

/* An empty ad hoc message (GET, no endpoint).  SG_ERR_NOMEM. */
sg_err sg_out_msg_init(struct sg_out_msg *m);
void sg_out_msg_cleanup(struct sg_out_msg *m);

/*
 * Loads the HTTP method function of the REST message message (names, as
 * the records spell them) into m (initialised here): method, endpoint,
 * headers, query parameters, body, authentication, and, when test_values
 * (the Test link, nowctl rest test), each variable's test value (escaped
 * when its escape type says so; a script starts with none).  Reads as ctx's model
 * session: access controls are the caller's.  SG_ERR_NO_RECORD (msg says
 * which) when either does not exist; SG_ERR_NOMEM, SG_ERR_STORE.
 */
sg_err sg_out_msg_load(struct sg_ctx *ctx, const char *message, const char *function,
                       bool test_values, struct sg_out_msg *m, char *msg, size_t msg_size);

/* setStringParameter (escape true) / setStringParameterNoEscape. */
sg_err sg_out_msg_set_var(struct sg_out_msg *m, const char *name, const char *value, bool escape);
/* setRequestHeader: replaces a header of the same name (any case). */
sg_err sg_out_msg_set_header(struct sg_out_msg *m, const char *name, const char *value);
/* setQueryParameter: replaces a parameter of the same name, else appends. */
sg_err sg_out_msg_set_param(struct sg_out_msg *m, const char *name, const char *value);

/* Appends tmpl to out with every ${name} that vars holds replaced by its
 * value; other text, unknown names included, is copied as is. */
void sg_out_substitute(struct sg_buf *out, const char *tmpl, const json_t *vars);
/* Appends v with ServiceNow's setStringParameter escaping: < > & and %
 * become character references. */
void sg_out_xml_escape(struct sg_buf *out, const char *v);
/* Appends name=value (both URL-encoded) to url, after '?' or '&'. */
void sg_out_url_add_param(struct sg_buf *url, const char *name, const char *value);

/* A message made concrete: what sg_out_send takes.  Every string is new. */
struct sg_out_built {
	char *method;
	char *url;
	struct sg_kv *headers;
	size_t n_headers;
	char *body; /* NULL: none */
	size_t body_len;
};

/* Substitutes m's variables.  SG_ERR_NOMEM; SG_ERR_INVALID_REQUEST (msg
 * says why) when a part grows past its limit. */
sg_err sg_out_msg_build(const struct sg_out_msg *m, struct sg_out_built *b, char *msg,
                        size_t msg_size);
void sg_out_built_cleanup(struct sg_out_built *b);
/* Points req at b and m's authentication (req borrows both). */
void sg_out_built_request(const struct sg_out_msg *m, const struct sg_out_built *b,
                          struct sg_out_request *req);

#endif
