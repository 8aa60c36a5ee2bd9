/* SPDX-License-Identifier: MIT */
/*
 * The model of a runner built without QuickJS (make QUICKJS=0), for a router that runs the
 * in-kernel model alone: "none" is the only model, and what needs JavaScript says why it fails.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "model.h"

#define NO_ENGINE "this fwrunner is built without QuickJS (for inference \"kernel\")"

struct model {
	int none;
};

const char *model_engine(void)
{
	return NULL;
}

struct model *model_open(const char *path, const struct run_limits *limits, char *err, size_t errlen)
{
	static struct model none;

	(void)limits;
	if (strcmp(path, "none")) {
		snprintf(err, errlen, "model %s: %s: its only model is \"none\"", path, NO_ENGINE);
		return NULL;
	}
	return &none;
}

int model_predicts(const struct model *m)
{
	(void)m;
	return 0;
}

char *model_predict(struct model *m, const struct features *x, const struct model_flow *flow, char *err, size_t errlen)
{
	(void)m, (void)x, (void)flow;
	snprintf(err, errlen, "no model");
	return NULL;
}

char *model_predict_line(struct model *m, const char *line, size_t len, char *err, size_t errlen, int *bad_input)
{
	(void)m, (void)line, (void)len;
	*bad_input = 0;
	snprintf(err, errlen, "no model");
	return NULL;
}

void model_counts(const struct model *m, unsigned long *calls, unsigned long *failures)
{
	(void)m;
	*calls = *failures = 0;
}

void model_close(struct model *m)
{
	(void)m;
}

int model_script(const char *cmd, const char *in, const char *out, const struct run_limits *limits)
{
	(void)in, (void)out, (void)limits;
	fprintf(stderr, "fwrunner: %s: %s\n", cmd, NO_ENGINE);
	return 2;
}
