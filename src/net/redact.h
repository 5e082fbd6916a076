/*
 * redact.h - secrets out of log lines.
 *
 * What the HTTP client logs (and, later, the server's access log) goes
 * through these first: the values of secret-looking URL and form parameters,
 * the password of a URL's user information and the values of credential
 * headers become "***".  Parameter names are compared after percent-decoding
 * and without regard to case, so "%63lient_secret=", "Password=" and
 * "%74oken=" are caught as well as their plain spellings.  Redaction errs on
 * the side of hiding: a name too long to judge counts as secret.
 */
#ifndef SG_NET_REDACT_H
#define SG_NET_REDACT_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"

/* The mask written in place of a secret value. */
#define SG_NET_MASK "***"

/*
 * True when a parameter (or header) name of len bytes, percent-encoded or
 * not, names a secret: it contains password, passwd, pwd, secret, token,
 * apikey, api_key, api-key, credential or signature, or is exactly pass,
 * code (an OAuth authorization code), assertion, sig or key; any case.
 */
bool sg_net_is_secret_name(const char *name, size_t len);

/* True for a header whose value is a credential: Authorization,
 * Proxy-Authorization, Cookie, Set-Cookie, X-SN-APIKey, or any name
 * sg_net_is_secret_name() accepts (X-Auth-Token, X-Api-Key). */
bool sg_net_is_secret_header(const char *name);

/*
 * Appends url (len bytes) to out with the password of its user information
 * (the whole user information when it has no ':') and the values of secret
 * query and fragment parameters replaced by SG_NET_MASK.  The caller owns
 * out (created with its maximum); check sg_buf_failed(out) once after.
 */
void sg_net_redact_url(struct sg_buf *out, const char *url, size_t len);

/*
 * A database URL (or data directory) for messages: url with the password of
 * its user information masked ("postgresql://user:***@host/db") and secret
 * parameters ("?password=***") too, as sg_net_redact_url().  A new string
 * the caller frees; NULL only when memory ran out.  Every message that
 * names a store goes through this: a URL may carry a password.
 */
char *sg_net_masked_url(const char *url);

/* As sg_net_redact_url() for an application/x-www-form-urlencoded body of
 * len bytes: every field is a parameter. */
void sg_net_redact_form(struct sg_buf *out, const char *body, size_t len);

/*
 * Appends "name: value" to out, the value masked when the header is secret.
 * Authorization and Proxy-Authorization keep their scheme ("Basic ***").
 * The caller owns out.
 */
void sg_net_redact_header(struct sg_buf *out, const char *name, const char *value);

#endif
