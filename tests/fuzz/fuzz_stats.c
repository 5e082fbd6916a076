/*
 * libFuzzer target for the Aggregate API's parameters.  The input is split at
 * newlines into the values of sysparm_query, sysparm_count, the four
 * aggregate lists, sysparm_group_by, sysparm_having, sysparm_orderby and
 * sysparm_display_value; its first byte picks the table and the caller
 * (admin, abel.tuter with snc_internal, a user with no role).  The request
 * runs through sg_stats_get in-process against an instance made once (base
 * schema and demo records), with the caller's ACLs.  Whatever the input:
 * no crash, no leak, no 500 but out of memory, a JSON body, and never a
 * password hash in the answer.
 */
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_api.h"
#include "api/api.h"
#include "auth/acl.h"
#include "auth/auth.h"
#include "auth/rules.h"
#include "core/json.h"
#include "core/log.h"
#include "model/model.h"

#define ADMIN_SYS_ID TEST_ADMIN_SYS_ID

static struct sg_model *model;
static struct sg_auth *auth;
static struct sg_api api;
static struct sg_user users[3];
static const char *tables[] = {"incident", "sys_user", "task", "sys_properties", "cmdb_ci"};
static const char *params[] = {"sysparm_query",        "sysparm_count",      "sysparm_avg_fields",
                               "sysparm_min_fields",   "sysparm_max_fields", "sysparm_sum_fields",
                               "sysparm_group_by",     "sysparm_having",     "sysparm_orderby",
                               "sysparm_display_value"};
#define NPARAMS (sizeof(params) / sizeof(params[0]))

/* abel.tuter's sys_id, from the demo records, into users[1]. */
static sg_err find_abel(void)
{
	struct sg_ctx ctx;
	sg_err err = sg_ctx_begin(&ctx, model, NULL);
	if (err)
		return err;
	struct sg_query q;
	sg_query_init(&q);
	json_t *rows = NULL;
	struct sg_list_opts lo = {.query = &q, .limit = 1};
	if (!sg_query_add_eq(&q, "user_name", "abel.tuter"))
		err = SG_ERR_NOMEM;
	if (!err)
		err = sg_rec_list(&ctx, "sys_user", &lo, &rows, NULL);
	const char *id = sg_json_str(json_array_get(rows, 0), "sys_id");
	if (!err && !id)
		err = SG_ERR_NO_RECORD;
	if (!err)
		snprintf(users[1].sys_id, sizeof(users[1].sys_id), "%s", id);
	json_decref(rows);
	sg_query_cleanup(&q);
	sg_ctx_end(&ctx);
	return err;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_api_instance("fuzz_stats",
	                  json_pack("{s:s, s:s, s:s}", "sys_id", ADMIN_SYS_ID, "user_name", "admin",
	                            "user_password", "Fuzz-admin-pass-1"),
	                  &model, &auth, &api);
	fuzz_user(&users[0], ADMIN_SYS_ID, "admin");
	fuzz_user(&users[1], "", "abel.tuter");
	fuzz_user(&users[2], FUZZ_PLAIN_SYS_ID, "plain");
	sg_err err = find_abel();
	if (err) {
		fprintf(stderr, "fuzz_stats: cannot find abel.tuter: %s\n", sg_err_name(err));
		abort();
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 16 * 1024)
		return 0;
	unsigned pick = data[0];
	char *text = malloc(size);
	if (!text)
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	struct sg_kv args[NPARAMS];
	size_t nargs = 0;
	for (char *p = text; p && nargs < NPARAMS; nargs++) {
		char *nl = strchr(p, '\n');
		if (nl)
			*nl = '\0';
		args[nargs].name = (char *)params[nargs];
		args[nargs].value = p;
		p = nl ? nl + 1 : NULL;
	}
	const struct sg_user *user = &users[(pick >> 4) % 3];
	const char *table = tables[(pick & 15) % (sizeof(tables) / sizeof(tables[0]))];

	struct sg_req req;
	sg_req_init(&req);
	req.method = "GET";
	req.path = "/api/now/stats/x";
	req.raw_query = "";
	req.args = args;
	req.nargs = nargs;
	req.header = fuzz_no_header;
	req.origin = "http://127.0.0.1/";
	req.base_url = "http://127.0.0.1/";
	req.user = user;
	req.match.ncaps = 1;
	req.match.caps[0] = (struct sg_capture){.name = "table", .name_len = 5, .value = table};
	struct sg_resp resp;
	sg_resp_init(&resp);
	struct sg_ctx ctx;
	if (sg_ctx_begin(&ctx, model, user))
		abort();
	struct sg_auth_session as;
	sg_auth_session_init(&as, auth, &ctx, NULL);
	sg_err err = sg_stats_get(&api, &ctx, &as, &req, &resp);
	if (err == SG_ERR_INTERNAL || err == SG_ERR_STORE) {
		fprintf(stderr, "fuzz_stats: %s on %s as %s\n", sg_err_name(err), table,
		        user->user_name);
		abort();
	}
	if (!err) {
		const char *body = sg_buf_str(&resp.body);
		json_t *j = json_loads(body, 0, NULL);
		if (resp.status != 200 || !j || strstr(body, "$argon2")) {
			fprintf(stderr, "fuzz_stats: bad answer %d on %s as %s: %.300s\n",
			        resp.status, table, user->user_name, body);
			abort();
		}
		json_decref(j);
	}
	sg_auth_session_cleanup(&as);
	sg_ctx_end(&ctx);
	sg_resp_cleanup(&resp);
	sg_req_cleanup(&req);
	free(text);
	return 0;
}
