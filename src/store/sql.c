/*
 * sql.c - the statement builder: text with '?' placeholders and the values
 * bound to them, with a sticky failure checked once when the statement runs.
 */
#include "store/sql.h"

#include <stdlib.h>
#include <string.h>

#include "core/util.h"

void sg_sql_init(struct sg_sql *q)
{
	memset(q, 0, sizeof(*q));
	sg_buf_init(&q->text, 4 * 1024 * 1024);
}

void sg_sql_reset(struct sg_sql *q)
{
	for (size_t i = 0; i < q->nparams; i++)
		if (!q->params[i].borrowed)
			free(q->params[i].text);
	q->nparams = 0;
	q->failed = q->nomem = false;
	sg_buf_reset(&q->text);
}

void sg_sql_cleanup(struct sg_sql *q)
{
	sg_sql_reset(q);
	free(q->params);
	sg_buf_cleanup(&q->text);
	memset(q, 0, sizeof(*q));
}

void sg_sql_raw(struct sg_sql *q, const char *sql)
{
	sg_buf_puts(&q->text, sql);
}

void sg_sql_ident(struct sg_sql *q, const char *name)
{
	if (!sg_str_is_ident(name, 80)) {
		q->failed = true;
		return;
	}
	sg_buf_putc(&q->text, '"');
	sg_buf_puts(&q->text, name);
	sg_buf_putc(&q->text, '"');
}

void sg_sql_qual(struct sg_sql *q, const char *alias, const char *column)
{
	sg_sql_ident(q, alias);
	sg_buf_putc(&q->text, '.');
	sg_sql_ident(q, column);
}

static struct sg_param *add_param(struct sg_sql *q)
{
	if (q->nparams == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 8;
		struct sg_param *p = realloc(q->params, cap * sizeof(*p));
		if (!p) {
			q->failed = q->nomem = true;
			return NULL;
		}
		q->params = p;
		q->cap = cap;
	}
	struct sg_param *p = &q->params[q->nparams++];
	memset(p, 0, sizeof(*p));
	sg_buf_putc(&q->text, '?');
	return p;
}

void sg_sql_text(struct sg_sql *q, const char *value)
{
	struct sg_param *p = add_param(q);
	if (!p)
		return;
	if (!value)
		return; /* SG_PARAM_NULL */
	p->text = strdup(value);
	if (!p->text) {
		q->failed = q->nomem = true;
		return;
	}
	p->kind = SG_PARAM_TEXT;
}

void sg_sql_int(struct sg_sql *q, long long value)
{
	struct sg_param *p = add_param(q);
	if (!p)
		return;
	p->kind = SG_PARAM_INT;
	p->i = value;
}

void sg_sql_blob(struct sg_sql *q, const void *value, size_t len)
{
	struct sg_param *p = add_param(q);
	if (!p)
		return;
	if (!value)
		return; /* SG_PARAM_NULL */
	/* One byte more: an empty BLOB still has a pointer, and a reader of
	 * params that expects a string finds it terminated. */
	p->text = malloc(len + 1);
	if (!p->text) {
		q->failed = q->nomem = true;
		return;
	}
	memcpy(p->text, value, len);
	p->text[len] = '\0';
	p->len = len;
	p->kind = SG_PARAM_BLOB;
}

void sg_sql_blob_ref(struct sg_sql *q, const void *value, size_t len)
{
	struct sg_param *p = add_param(q);
	if (!p)
		return;
	p->text = (char *)value;
	p->len = len;
	p->kind = SG_PARAM_BLOB;
	p->borrowed = true;
}

void sg_sql_append(struct sg_sql *q, const struct sg_sql *src)
{
	if (sg_sql_error(src)) {
		q->failed = true;
		q->nomem = q->nomem || sg_sql_error(src) == SG_ERR_NOMEM;
		return;
	}
	/* Identifiers are [a-z0-9_] and program text has no '?', so every '?'
	 * in src is one of its placeholders, in order. */
	size_t pi = 0;
	for (const char *p = sg_buf_str(&src->text); *p; p++) {
		if (*p != '?' || pi >= src->nparams) {
			sg_buf_putc(&q->text, *p);
			continue;
		}
		const struct sg_param *sp = &src->params[pi++];
		if (sp->kind == SG_PARAM_INT)
			sg_sql_int(q, sp->i);
		else if (sp->kind == SG_PARAM_BLOB)
			sg_sql_blob(q, sp->text, sp->len);
		else
			sg_sql_text(q, sp->kind == SG_PARAM_TEXT ? sp->text : NULL);
	}
}

sg_err sg_sql_error(const struct sg_sql *q)
{
	if (q->nomem || (sg_buf_failed(&q->text) && !q->text.too_large))
		return SG_ERR_NOMEM;
	return q->failed || sg_buf_failed(&q->text) ? SG_ERR_INTERNAL : SG_ERR_OK;
}

struct sg_sql_mark sg_sql_mark(const struct sg_sql *q)
{
	struct sg_sql_mark m = {q->text.len, q->nparams};
	return m;
}

void sg_sql_rewind(struct sg_sql *q, struct sg_sql_mark m)
{
	if (sg_buf_failed(&q->text) || m.len > q->text.len || m.nparams > q->nparams)
		return;
	q->text.len = m.len;
	if (q->text.data)
		q->text.data[m.len] = '\0';
	for (size_t i = m.nparams; i < q->nparams; i++)
		free(q->params[i].text);
	q->nparams = m.nparams;
}
