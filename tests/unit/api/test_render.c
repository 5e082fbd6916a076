/*
 * Unit tests for record serialisation (routing: test_routes.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>

#include "../model/fixture.h"
#include "api/api.h"
#include "api/render.h"
#include "core/json.h"

static void shapes_for_each_display_mode(void **state)
{
	struct fixture *f = *state;
	json_t *in = json_pack("{s:s, s:s, s:s}", "short_description", "r", "caller_id",
	                       "0123456789abcdef0123456789abcdef", "state", "2");
	struct sg_write_opts wo = {0};
	char id[SG_ID_LEN + 1];
	assert_int_equal(sg_rec_insert(&f->ctx, "incident", in, &wo, id), SG_ERR_OK);
	json_decref(in);
	json_t *rec;
	assert_int_equal(sg_rec_get(&f->ctx, "incident", id, &rec), SG_ERR_OK);
	const struct sg_table *t = sg_dict_table(f->ctx.dict, "incident");
	struct sg_render_opts o = {
	    .dv = SG_DV_FALSE, .base_url = "https://x/", .fields = "caller_id,state,number,parent"};
	json_t *out = sg_render_record(&f->ctx, t, rec, &o);
	char *s = json_dumps(out, JSON_COMPACT);
	assert_string_equal(s, "{\"caller_id\":{\"link\":\"https://x/api/now/table/sys_user/"
	                       "0123456789abcdef0123456789abcdef\",\"value\":"
	                       "\"0123456789abcdef0123456789abcdef\"},\"state\":\"2\",\"number\":"
	                       "\"INC0010001\",\"parent\":\"\"}");
	free(s);
	json_decref(out);
	o.dv = SG_DV_ALL;
	o.exclude_link = true;
	out = sg_render_record(&f->ctx, t, rec, &o);
	s = json_dumps(out, JSON_COMPACT);
	/* a reference to a missing record has an empty display value */
	assert_string_equal(
	    s, "{\"caller_id\":{\"display_value\":\"\",\"value\":"
	       "\"0123456789abcdef0123456789abcdef\"},\"state\":{\"display_value\":"
	       "\"In Progress\",\"value\":\"2\"},\"number\":{\"display_value\":"
	       "\"INC0010001\",\"value\":\"INC0010001\"},\"parent\":{\"display_value\":"
	       "\"\",\"value\":\"\"}}");
	free(s);
	json_decref(out);
	json_decref(rec);
}

/* The escaping put_str must produce, byte by byte, written the plain way. */
static void reference_escape(struct sg_buf *b, const char *s)
{
	sg_buf_putc(b, '"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"')
			sg_buf_puts(b, "\\\"");
		else if (c == '\\')
			sg_buf_puts(b, "\\\\");
		else if (c == '\n')
			sg_buf_puts(b, "\\n");
		else if (c == '\r')
			sg_buf_puts(b, "\\r");
		else if (c == '\t')
			sg_buf_puts(b, "\\t");
		else if (c == '\b')
			sg_buf_puts(b, "\\b");
		else if (c == '\f')
			sg_buf_puts(b, "\\f");
		else if (c < 0x20)
			sg_buf_printf(b, "\\u%04x", c);
		else
			sg_buf_putc(b, (char)c);
	}
	sg_buf_putc(b, '"');
}

/* Strings of every length up to 40 with each special byte at each position:
 * the word-at-a-time scan must escape exactly what the plain loop does. */
static void strings_escape_at_every_position(void **state)
{
	struct fixture *f = *state;
	const struct sg_table *t = sg_dict_table(f->ctx.dict, "incident");
	struct sg_render_opts o = {
	    .dv = SG_DV_FALSE, .base_url = "https://x/", .fields = "short_description"};
	static const char specials[] = {'"', '\\', '\n', '\t', 0x01, 0x1f, 0x7f, ' ', 'a'};
	for (size_t len = 1; len <= 40; len++) {
		for (size_t at = 0; at < len; at++) {
			for (size_t k = 0; k < sizeof(specials); k++) {
				char s[64];
				for (size_t i = 0; i < len; i++)
					s[i] = (char)('a' + i % 26);
				if (len > 3 && at < len - 2)
					memcpy(s + len - 2, "\xc3\xa9",
					       2); /* UTF-8 passes through */
				s[at] = specials[k];
				s[len] = '\0';
				json_t *rec =
				    json_pack("{s:s, s:s}", "short_description", s, "sys_id",
				              "0123456789abcdef0123456789abcdef");
				assert_non_null(rec);
				struct sg_buf got, want;
				sg_buf_init(&got, 4096);
				sg_buf_init(&want, 4096);
				assert_true(sg_render_write(&f->ctx, t, rec, &o, &got));
				sg_buf_puts(&want, "{\"short_description\":");
				reference_escape(&want, s);
				sg_buf_putc(&want, '}');
				assert_string_equal(sg_buf_str(&got), sg_buf_str(&want));
				json_t *back = json_loads(sg_buf_str(&got), 0, NULL);
				assert_non_null(back);
				assert_string_equal(sg_json_str(back, "short_description"), s);
				json_decref(back);
				json_decref(rec);
				sg_buf_cleanup(&got);
				sg_buf_cleanup(&want);
			}
		}
	}
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(shapes_for_each_display_mode, fixture_setup,
	                                    fixture_teardown),
	    cmocka_unit_test_setup_teardown(strings_escape_at_every_position, fixture_setup,
	                                    fixture_teardown),
	};
	return cmocka_run_group_tests_name("api.render", tests, NULL, NULL);
}
