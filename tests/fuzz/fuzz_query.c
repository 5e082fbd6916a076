/*
 * libFuzzer target for the encoded query language.  Any input must parse,
 * compile against the incident table and run as valid SQL: the store never
 * answers "bad SQL", nothing crashes, nothing leaks.  It must also compile
 * with an environment that has no resolver (the compiler alone, no model).
 * The instance is made once, in a temporary directory, from the base schema.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <unistd.h>

#include "fuzz.h"
#include "core/log.h"
#include "core/tz.h"
#include "model/model.h"
#include "query/query.h"

static struct sg_model *model;
static struct sg_ctx ctx;
static const char *tables[] = {"incident", "task", "sys_user", "cmdb_ci"};

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	char schema[512];
	const char *dir = fuzz_start();
	snprintf(schema, sizeof(schema), "%s/schema", SG_SHARE_DIR);
	if (sg_model_init_instance(dir, schema, NULL) || sg_model_open(dir, &model))
		abort();
	struct sg_user u = {.sys_id = "6816f79cc0a8016401c5a33be04be441",
	                    .user_name = "admin",
	                    .time_zone = "Europe/Amsterdam"};
	if (sg_ctx_begin(&ctx, model, &u))
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_text(data, size);
	if (!text)
		return 0;
	struct sg_query q;
	sg_query_init(&q);
	if (sg_query_parse(&q, text)) {
		struct sg_list_opts lo = {.query = &q, .limit = 5, .count = true};
		json_t *rows = NULL;
		long long total;
		sg_err err = sg_rec_list(&ctx, tables[size % 4], &lo, &rows, &total);
		if (err && err != SG_ERR_NOMEM) {
			fprintf(stderr, "query %s gave %s\n", text, sg_err_name(err));
			abort();
		}
		json_decref(rows);
		/* The compiler alone: no resolver, so DYNAMIC finds nothing. */
		struct sg_qenv env = {.dict = ctx.dict,
		                      .dialect = &sg_dialect_sqlite,
		                      .tz = "Europe/Amsterdam",
		                      .user_id = "",
		                      .user_name = ""};
		struct sg_sql sql;
		bool invalid;
		sg_sql_init(&sql);
		const struct sg_table *t = sg_dict_table(ctx.dict, tables[size % 4]);
		err = sg_query_compile_where(&env, t, &q, "t", false, &sql, &invalid);
		if (!err)
			err = sg_query_compile_order(&env, t, &q, "t", &sql);
		if (err && err != SG_ERR_NOMEM) {
			fprintf(stderr, "query %s: compile gave %s\n", text, sg_err_name(err));
			abort();
		}
		sg_sql_cleanup(&sql);
	}
	sg_query_cleanup(&q);
	free(text);
	return 0;
}
