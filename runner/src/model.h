/* SPDX-License-Identifier: MIT */
/*
 * The model, behind one interface whatever runs it. With QuickJS (model.c) it is a script
 * (source or bytecode) that defines a global predict(features, flow); each call runs under a
 * memory and time budget, and a model that throws, loops or runs out of memory yields an error
 * for that call while the runner goes on. A runner built without QuickJS (model_none.c, for
 * routers that run the in-kernel model alone) has only the model "none".
 */
#ifndef FW_MODEL_H
#define FW_MODEL_H

#include <stddef.h>
#include <stdint.h>
#include "flows.h"

struct run_limits {
	size_t memory_bytes;  /* heap cap; allocation beyond it fails the call */
	uint32_t time_ms;     /* wall-clock budget of one evaluation */
};

/* What the model is told about a flow: the fields, and names, of an output line's "flow". */
struct model_flow {
	uint32_t id;
	unsigned int proto, client_port, server_port, vlan;
	const char *client, *server;
};

struct model;

/* The engine's name and version for `info`, or NULL in a runner built without one. */
const char *model_engine(void);
/*
 * `path` ending in .js is compiled from source, anything else read as bytecode; "none" opens a
 * model without predict(). NULL with the reason in err.
 */
struct model *model_open(const char *path, const struct run_limits *limits, char *err, size_t errlen);
/* Whether predict() exists: false for "none". */
int model_predicts(const struct model *m);
/* predict(features, flow) as JSON text (free it), or NULL with the error in err. */
char *model_predict(struct model *m, const struct features *x, const struct model_flow *flow, char *err, size_t errlen);
/*
 * The same for one input line, a recorded {flow, features} or the features alone. NULL with
 * *bad_input set when the line is not a JSON object.
 */
char *model_predict_line(struct model *m, const char *line, size_t len, char *err, size_t errlen, int *bad_input);
void model_counts(const struct model *m, unsigned long *calls, unsigned long *failures);
void model_close(struct model *m);

/*
 * fwrunner's script commands: eval FILE.js, run FILE.qbc, compile IN.js OUT. `out` is used by
 * compile only. Returns the exit code.
 */
int model_script(const char *cmd, const char *in, const char *out, const struct run_limits *limits);

#endif
