/* SPDX-License-Identifier: MIT */
/*
 * The model: a script (source or QuickJS bytecode) that defines a global predict(features).
 * Each call runs under the runtime's memory and time limits; a model that throws, loops or
 * runs out of memory yields an error for that call and the runner goes on.
 */
#ifndef FW_MODEL_H
#define FW_MODEL_H

#include "jsvm.h"

struct model {
	struct jsvm vm;
	JSValue predict;
	unsigned long calls, failures;
};

/* `path` ending in .js is compiled from source; anything else is read as bytecode. */
int model_load(struct model *m, const char *path, const struct jsvm_limits *limits, char *err, size_t errlen);
/*
 * Calls predict(features). Returns the result as JSON text in *out (free with js_free) or NULL
 * with the error message in err. Never leaves an exception pending.
 */
char *model_predict(struct model *m, JSValueConst features, JSValueConst flow, char *err, size_t errlen);
void model_free(struct model *m);

#endif
