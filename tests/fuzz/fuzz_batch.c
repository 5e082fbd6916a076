/*
 * libFuzzer target for the Batch API.  The input's first byte picks the
 * caller (admin, or a user with no role); the rest is the batch body.  It
 * runs through sg_batch_post in-process against an instance made once (base
 * schema and demo records), so every item goes through sg_api_subrequest:
 * the URL reader, the router, the body limit, the handlers and their ACLs.
 * Whatever the input: no crash, no leak, no 5xx but out of memory (for the
 * batch or any item); an answer with the three lists, each
 * serviced item with a status and a base64 body that decodes.  (Items echo
 * their input and the fuzzer's own writes persist, so the content of an
 * answer is checked by the black-box tests, not here.)
 */
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_api.h"
#include "api/api.h"
#include "auth/auth.h"
#include "auth/rules.h"
#include "core/json.h"
#include "core/log.h"
#include "model/model.h"

#define ADMIN_SYS_ID TEST_ADMIN_SYS_ID

static struct sg_model *model;
static struct sg_auth *auth;
static struct sg_api api;
static struct sg_user users[2];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_api_instance("fuzz_batch",
	                  json_pack("{s:s, s:s}", "sys_id", ADMIN_SYS_ID, "user_name", "admin"),
	                  &model, &auth, &api);
	fuzz_user(&users[0], ADMIN_SYS_ID, "admin");
	fuzz_user(&users[1], FUZZ_PLAIN_SYS_ID, "plain");
	return 0;
}

static _Noreturn void bad(const char *what, const char *body)
{
	fprintf(stderr, "fuzz_batch: %s: %.400s\n", what, body);
	abort();
}

/* A serviced item's checks. */
static void check_item(const json_t *it, const char *body)
{
	const char *b64 = sg_json_str(it, "body");
	json_int_t status = json_integer_value(json_object_get(it, "status_code"));
	if (!sg_json_str(it, "id") || !b64 || status < 100 || status > 599 ||
	    !json_is_integer(json_object_get(it, "execution_time")) ||
	    !json_is_array(json_object_get(it, "headers")) || !sg_json_str(it, "status_text"))
		bad("an item without its fields", body);
	size_t n = strlen(b64), len = 0;
	unsigned char *raw = malloc(n / 4 * 3 + 4);
	if (!raw)
		return;
	if (sodium_base642bin(raw, n / 4 * 3 + 3, b64, n, NULL, &len, NULL,
	                      sodium_base64_VARIANT_ORIGINAL) != 0)
		bad("an item body that is not base64", body);
	raw[len] = '\0';
	if (status >= 500 && !memmem(raw, len, "Out of memory", 13) && !memmem(raw, len, "busy", 4))
		bad("an item answered 5xx", (const char *)raw);
	free(raw);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 64 * 1024)
		return 0;
	char *text = fuzz_text(data + 1, size - 1);
	if (!text)
		return 0;
	const struct sg_user *user = &users[data[0] & 1];
	struct sg_req req;
	sg_req_init(&req);
	req.method = "POST";
	req.path = "/api/now/v1/batch";
	req.raw_query = "";
	req.header = fuzz_no_header;
	req.origin = "http://127.0.0.1/";
	req.base_url = "http://127.0.0.1/";
	req.user = user;
	req.body = text;
	req.body_len = size - 1;
	struct sg_resp resp;
	sg_resp_init(&resp);
	struct sg_ctx ctx;
	if (sg_ctx_begin(&ctx, model, user))
		abort();
	struct sg_auth_session as;
	sg_auth_session_init(&as, auth, &ctx, NULL);
	sg_err err = sg_batch_post(&api, &ctx, &as, &req, &resp);
	const char *body = sg_buf_str(&resp.body);
	if (err == SG_ERR_INTERNAL || err == SG_ERR_STORE)
		bad(sg_err_name(err), text);
	if (err && err != SG_ERR_NOMEM && sg_err_status(err) >= 500)
		bad("a 5xx refusal", text);
	if (!err) {
		json_t *j = json_loads(body, 0, NULL);
		const json_t *served = json_object_get(j, "serviced_requests");
		if (resp.status != 200 || !j || !sg_json_str(j, "batch_request_id") ||
		    !json_is_array(served) ||
		    !json_is_array(json_object_get(j, "unserviced_requests")))
			bad("not a batch answer", body);
		for (size_t i = 0; i < json_array_size(served); i++)
			check_item(json_array_get(served, i), text);
		json_decref(j);
	}
	sg_auth_session_cleanup(&as);
	sg_ctx_end(&ctx);
	sg_resp_cleanup(&resp);
	sg_req_cleanup(&req);
	free(text);
	return 0;
}
