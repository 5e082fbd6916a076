/*
 * Unit tests for the incremental multipart/form-data parser (api/multipart.c):
 * the same parts whatever the pieces the body arrives in, content that looks
 * like a delimiter kept, and malformed bodies refused with a reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "api/multipart.h"

#define CT "multipart/form-data; boundary=XyZ"

struct seen {
	char fields[1024];
	char file[8192];
	size_t file_len;
	char file_name[256], file_type[256];
	int begins, ends;
};

static sg_err on_field(void *ud, const char *name, const char *value, size_t len)
{
	struct seen *s = ud;
	size_t n = strlen(s->fields);
	snprintf(s->fields + n, sizeof(s->fields) - n, "%s=%.*s;", name, (int)len, value);
	return SG_ERR_OK;
}

static sg_err on_file_begin(void *ud, const char *name, const char *filename, const char *type)
{
	(void)name;
	struct seen *s = ud;
	s->begins++;
	snprintf(s->file_name, sizeof(s->file_name), "%s", filename);
	snprintf(s->file_type, sizeof(s->file_type), "%s", type);
	return SG_ERR_OK;
}

static sg_err on_file_data(void *ud, const char *data, size_t len)
{
	struct seen *s = ud;
	assert_true(s->file_len + len <= sizeof(s->file));
	memcpy(s->file + s->file_len, data, len);
	s->file_len += len;
	return SG_ERR_OK;
}

static sg_err on_file_end(void *ud)
{
	struct seen *s = ud;
	s->ends++;
	return SG_ERR_OK;
}

/* Parses body in pieces of step bytes (0: whole); the parse's result. */
static sg_err parse(const char *ct, const char *body, size_t len, size_t step, struct seen *s,
                    const char **why)
{
	memset(s, 0, sizeof(*s));
	struct sg_multipart_cb cb = {s, on_field, on_file_begin, on_file_data, on_file_end};
	static struct sg_multipart mp;
	sg_err err = sg_multipart_init(&mp, ct, &cb);
	for (size_t i = 0; !err && i < len;) {
		size_t n = step && step < len - i ? step : len - i;
		err = sg_multipart_feed(&mp, body + i, n);
		i += n;
	}
	if (!err)
		err = sg_multipart_finish(&mp);
	*why = mp.why;
	return err;
}

static const char content[] = "line one\r\n--XyY not a delimiter\r\n-\r\r\n--Xy\r\n--X\r\rend\r";

static size_t build(char *out, size_t size)
{
	int n =
	    snprintf(out, size,
	             "preamble to ignore\r\n"
	             "--XyZ\r\n"
	             "Content-Disposition: form-data; name=\"table_name\"\r\n\r\n"
	             "incident\r\n"
	             "--XyZ  \r\n"
	             "content-disposition: form-data; name=table_sys_id\r\n\r\n"
	             "0123\r\n"
	             "--XyZ\r\n"
	             "Content-Disposition: form-data; name=\"f\"; filename=\"a \\\"b\\\".txt\"\r\n"
	             "Content-Type: text/plain\r\n\r\n");
	memcpy(out + n, content, sizeof(content) - 1);
	n += (int)sizeof(content) - 1;
	n += snprintf(out + n, size - (size_t)n, "\r\n--XyZ--\r\nepilogue\r\n--XyZ\r\n");
	return (size_t)n;
}

static void same_parts_in_any_pieces(void **state)
{
	(void)state;
	char body[2048];
	size_t len = build(body, sizeof(body));
	for (size_t step = 0; step <= len; step += step < 16 ? 1 : 7) {
		struct seen s;
		const char *why;
		assert_int_equal(parse(CT, body, len, step, &s, &why), SG_ERR_OK);
		assert_string_equal(s.fields, "table_name=incident;table_sys_id=0123;");
		assert_int_equal(s.begins, 1);
		assert_int_equal(s.ends, 1);
		assert_string_equal(s.file_name, "a \"b\".txt");
		assert_string_equal(s.file_type, "text/plain");
		assert_int_equal(s.file_len, sizeof(content) - 1);
		assert_memory_equal(s.file, content, sizeof(content) - 1);
	}
}

static void content_types_and_boundaries(void **state)
{
	(void)state;
	struct seen s;
	const char *why;
	const char *ok = "--a'b()+_,-./:=?\r\nContent-Disposition: form-data; name=x\r\n\r\n1\r\n"
	                 "--a'b()+_,-./:=?--";
	assert_int_equal(parse("Multipart/Form-Data; charset=utf-8; boundary=\"a'b()+_,-./:=?\"",
	                       ok, strlen(ok), 0, &s, &why),
	                 SG_ERR_OK);
	assert_string_equal(s.fields, "x=1;");
	const char *bad[] = {
	    NULL,
	    "application/json",
	    "multipart/form-dataX; boundary=a",
	    "multipart/mixed; boundary=a",
	    "multipart/form-data",
	    "multipart/form-data; boundary=",
	    "multipart/form-data; boundary=\"a\r\nb\"",
	    "multipart/form-data; boundary=\"ends in space \"",
	    "multipart/form-data; boundary="
	    "12345678901234567890123456789012345678901234567890123456789012345678901",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse(bad[i], ok, strlen(ok), 0, &s, &why), SG_ERR_BAD_PARAM);
		assert_non_null(why);
	}
}

static void malformed_bodies_are_refused(void **state)
{
	(void)state;
	static char big[SG_MP_HEADER_MAX + 200], field[SG_MP_FIELD_MAX + 200];
	int n = snprintf(big, sizeof(big), "--XyZ\r\nX-Pad: ");
	memset(big + n, 'a', SG_MP_HEADER_MAX);
	big[n + SG_MP_HEADER_MAX] = '\0';
	n = snprintf(field, sizeof(field),
	             "--XyZ\r\nContent-Disposition: form-data; name=v\r\n\r\n");
	memset(field + n, 'v', SG_MP_FIELD_MAX + 1);
	strcpy(field + n + SG_MP_FIELD_MAX + 1, "\r\n--XyZ--");
	const char *cases[] = {
	    "", /* no delimiter at all */
	    "--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\nno end",
	    "--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n--XyZ",
	    "--XyZ\r\nContent-Type: text/plain\r\n\r\nx\r\n--XyZ--", /* no disposition */
	    "--XyZ\r\nContent-Disposition: attachment; name=a\r\n\r\nx\r\n--XyZ--",
	    "--XyZ\r\nContent-Disposition: form-data\r\n\r\nx\r\n--XyZ--", /* no name */
	    "--XyZ\r\nno colon here\r\n\r\nx\r\n--XyZ--",
	    "--XyZxx\r\n", /* not CRLF after it */
	    big,
	    field,
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (size_t step = 0; step < 3; step++) {
			struct seen s;
			const char *why = NULL;
			assert_int_equal(parse(CT, cases[i], strlen(cases[i]), step, &s, &why),
			                 SG_ERR_BAD_PARAM);
			assert_non_null(why);
		}
	}
}

static void an_empty_form_and_an_empty_file(void **state)
{
	(void)state;
	struct seen s;
	const char *why;
	const char *empty = "--XyZ--\r\n";
	assert_int_equal(parse(CT, empty, strlen(empty), 0, &s, &why), SG_ERR_OK);
	assert_int_equal(s.begins, 0);
	const char *nofile = "--XyZ\r\nContent-Disposition: form-data; name=f; filename=e.txt\r\n"
	                     "\r\n\r\n--XyZ--";
	assert_int_equal(parse(CT, nofile, strlen(nofile), 1, &s, &why), SG_ERR_OK);
	assert_int_equal(s.begins, 1);
	assert_int_equal(s.ends, 1);
	assert_int_equal(s.file_len, 0);
	assert_string_equal(s.file_type, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(same_parts_in_any_pieces),
	    cmocka_unit_test(content_types_and_boundaries),
	    cmocka_unit_test(malformed_bodies_are_refused),
	    cmocka_unit_test(an_empty_form_and_an_empty_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
