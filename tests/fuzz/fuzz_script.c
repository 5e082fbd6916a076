/*
 * libFuzzer target for the script engine: the input is script text, run as
 * the system (GlideRecord, gs, every native reachable) against an instance
 * made once, under tight limits (100 ms, 8 MB).  Whatever the input: no
 * crash, no leak, no sanitizer report, and the run ends with one of its
 * statuses (a platform failure only for out of memory).
 */
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "auth/auth.h"
#include "auth/rules.h"
#include "core/log.h"
#include "model/model.h"
#include "script/script.h"

static struct sg_model *model;
static struct sg_auth *auth;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (sodium_init() < 0)
		abort();
	sg_log_set_level(SG_LOG_ERROR);
	char schema[512];
	const char *dir = fuzz_make_dir();
	snprintf(schema, sizeof(schema), "%s/schema", SG_SHARE_DIR);
	sg_err err = sg_model_init_instance(dir, schema, sg_auth_add_rules);
	if (!err)
		err = sg_model_open(dir, &model);
	if (!err)
		err = sg_auth_add_rules(model);
	if (!err)
		err = sg_auth_new(model, &auth);
	struct sg_ctx ctx;
	if (!err && !(err = sg_ctx_begin(&ctx, model, NULL))) {
		err = sg_prop_set(&ctx, "snowglobe.script.timeout_ms", "100");
		if (!err)
			err = sg_prop_set(&ctx, "snowglobe.script.max_memory_mb", "8");
		sg_ctx_end(&ctx);
	}
	if (err) {
		fprintf(stderr, "fuzz_script: cannot make the instance: %s\n", sg_err_name(err));
		abort();
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_text(data, size);
	if (!text)
		return 0;
	struct sg_ctx ctx;
	if (sg_ctx_begin(&ctx, model, NULL)) {
		free(text);
		return 0;
	}
	struct sg_auth_session s;
	sg_auth_session_init(&s, auth, &ctx, NULL);
	struct sg_script_run r = {.source = text, .source_len = size, .name = "fuzz", .as = &s};
	struct sg_script_result res;
	sg_err err = sg_script_run(&r, &res);
	if (err && err != SG_ERR_NOMEM) {
		/* A script cannot make the platform fail but for memory. */
		fprintf(stderr, "fuzz_script: %s\n", sg_err_name(err));
		abort();
	}
	if (!err && res.status == SG_SCRIPT_FAILED)
		abort();
	sg_script_result_cleanup(&res);
	sg_auth_session_cleanup(&s);
	sg_ctx_end(&ctx);
	free(text);
	return 0;
}
