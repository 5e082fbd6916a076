/*
 * client.h - where nowctl's commands act: an instance's data directory
 * (offline, as the system, which no access control stops) or a running
 * instance over its Table API (online, as an admin, under ACLs).  Every
 * command is written once against this interface.
 */
#ifndef SG_NOWCTL_CLIENT_H
#define SG_NOWCTL_CLIENT_H

#include <jansson.h>
#include <stdbool.h>

#include "model/model.h"

struct client {
	/* Each returns 0 or a non-zero error with errmsg set.  Records are raw
	 * field strings; *out receives a new reference. */
	int (*list)(struct client *c, const char *table, const char *query, long limit,
	            json_t **out);
	int (*insert)(struct client *c, const char *table, json_t *in, json_t **out);
	int (*update)(struct client *c, const char *table, const char *sys_id, json_t *in,
	              json_t **out);
	int (*remove)(struct client *c, const char *table, const char *sys_id);
	/* Installs an application (model/app.h) in one transaction; *report
	 * what was inserted and updated per table. */
	int (*app_install)(struct client *c, json_t *app, json_t **report);
	/* Runs a background script (Scripts - Background): offline as the
	 * system, online as the user (admin with security_admin in effect).
	 * *out: the run's result (sg_script_result_json's shape). */
	int (*script)(struct client *c, const char *source, size_t len, json_t **out);
	/* One request to a path of the instance (online only; NULL offline):
	 * the "result" of its answer in *out (new reference), unless out is NULL. */
	int (*http)(struct client *c, const char *method, const char *path, json_t **out);
	void (*close)(struct client *c);
	struct sg_model *model; /* offline: the instance opened; NULL online */
	char errmsg[1024];
	int status; /* HTTP status of the last failure (online), or 0 */
};

/* Opens the data directory dir. NULL on failure (message on stderr). */
struct client *client_local(const char *dir);
/* A running instance at url with Basic credentials. */
struct client *client_remote(const char *url, const char *user, const char *password);

#endif
