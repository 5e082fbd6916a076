/*
 * libFuzzer target for the router.  The input is a method, one space, and a
 * path; the route lookup must answer found, 405 or 400, every capture a
 * non-empty segment without '/', found by its name; nothing crashes, nothing
 * leaks (the captures live in an arena freed per input).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "api/api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_text(data, size);
	if (!text)
		return 0;
	char *space = strchr(text, ' ');
	const char *method = text, *path = "";
	if (space) {
		*space = '\0';
		path = space + 1;
	}
	size_t n;
	const struct sg_route *routes = sg_api_routes(&n);
	struct sg_req req;
	sg_req_init(&req);
	sg_err err = sg_route_find(routes, n, method, path, &req.arena, &req.match);
	const struct sg_route *r = req.match.route;
	if (err != SG_ERR_OK && err != SG_ERR_BAD_METHOD && err != SG_ERR_NO_RESOURCE)
		abort();
	if ((err == SG_ERR_OK) != (r != NULL))
		abort();
	if (r && strcmp(r->method, strcmp(method, "HEAD") ? method : "GET") != 0)
		abort();
	size_t total = 0;
	for (size_t i = 0; r && i < req.match.ncaps; i++) {
		const struct sg_capture *c = &req.match.caps[i];
		char name[64];
		if (c->name_len == 0 || c->name_len >= sizeof(name))
			abort();
		memcpy(name, c->name, c->name_len);
		name[c->name_len] = '\0';
		size_t len = strlen(c->value);
		total += len + 1;
		if (!len || strchr(c->value, '/') || !strstr(path, c->value) ||
		    sg_req_param(&req, name) != c->value)
			abort();
	}
	if (total > SG_ROUTE_CAPTURE_MAX)
		abort();
	sg_req_cleanup(&req);
	free(text);
	return 0;
}
