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

#include "fuzz.h"
#include "../test_instance.h"
#include "api/api.h"
#include "auth/auth.h"
#include "auth/rules.h"
#include "core/json.h"
#include "core/log.h"
#include "model/model.h"

#define ADMIN_SYS_ID TEST_ADMIN_SYS_ID
#define PLAIN_SYS_ID "0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f"

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
	const char *dir = fuzz_start();
	sg_err err = test_make_instance(
	    dir, json_pack("{s:s, s:s}", "sys_id", ADMIN_SYS_ID, "user_name", "admin"), &model);
	if (!err)
		err = test_insert_as_system(
		    model, "sys_user",
		    json_pack("{s:s, s:s}", "sys_id", PLAIN_SYS_ID, "user_name", "plain"), NULL);
	if (!err)
		err = test_load_demo(model);
	if (!err)
		err = sg_auth_new(model, &auth);
	if (err) {
		fprintf(stderr, "fuzz_batch: cannot make the instance: %s\n", sg_err_name(err));
		abort();
	}
	sg_api_init(&api, model, auth, NULL);
	const char *names[] = {"admin", "plain"}, *ids[] = {ADMIN_SYS_ID, PLAIN_SYS_ID};
	for (size_t i = 0; i < 2; i++) {
		snprintf(users[i].sys_id, sizeof(users[i].sys_id), "%s", ids[i]);
		snprintf(users[i].user_name, sizeof(users[i].user_name), "%s", names[i]);
		snprintf(users[i].time_zone, sizeof(users[i].time_zone), "UTC");
	}
	return 0;
}

static const char *no_header(void *impl, const char *name)
{
	(void)impl;
	(void)name;
	return NULL;
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
	req.header = no_header;
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
