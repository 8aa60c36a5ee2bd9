/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "model.h"

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (!fseek(f, 0, SEEK_END) && (n = ftell(f)) >= 0 && !fseek(f, 0, SEEK_SET) && (buf = malloc((size_t)n + 1))) {
		if (fread(buf, 1, (size_t)n, f) == (size_t)n) {
			buf[n] = '\0';
			*len = (size_t)n;
		} else {
			free(buf);
			buf = NULL;
		}
	}
	fclose(f);
	return buf;
}

/* The pending exception as "Name: message", consumed. */
static void take_exception(JSContext *ctx, char *err, size_t errlen)
{
	JSValue e = JS_GetException(ctx);

	jsvm_exception_text(ctx, e, err, errlen);
	JS_FreeValue(ctx, e);
}

int model_load(struct model *m, const char *path, const struct jsvm_limits *limits, char *err, size_t errlen)
{
	size_t len = 0, n = strlen(path);
	char *buf;
	JSValue v, g;

	memset(m, 0, sizeof(*m));
	m->predict = JS_UNDEFINED;
	buf = slurp(path, &len);
	if (!buf) {
		snprintf(err, errlen, "model %s: cannot read it", path);
		return -1;
	}
	/* Loading is done once and may compile source: a wider time budget than one prediction. */
	struct jsvm_limits load = *limits;

	if (load.time_ms && load.time_ms < 10000)
		load.time_ms = 10000;
	if (jsvm_init(&m->vm, &load)) {
		free(buf);
		snprintf(err, errlen, "model: cannot create a JS runtime");
		return -1;
	}
	if (n > 3 && !strcmp(path + n - 3, ".js"))
		v = jsvm_eval_source(&m->vm, buf, len, path);
	else
		v = jsvm_eval_bytecode(&m->vm, (const uint8_t *)buf, len);
	free(buf);
	if (JS_IsException(v)) {
		char sub[300];

		take_exception(m->vm.ctx, sub, sizeof(sub));
		snprintf(err, errlen, "model %s: %s", path, sub);
		return -1;
	}
	JS_FreeValue(m->vm.ctx, v);
	m->vm.limits = *limits;
	g = JS_GetGlobalObject(m->vm.ctx);
	m->predict = JS_GetPropertyStr(m->vm.ctx, g, "predict");
	JS_FreeValue(m->vm.ctx, g);
	if (!JS_IsFunction(m->vm.ctx, m->predict)) {
		snprintf(err, errlen, "model %s: defines no global function predict(features)", path);
		return -1;
	}
	return 0;
}

char *model_predict(struct model *m, JSValueConst features, JSValueConst flow, char *err, size_t errlen)
{
	JSContext *ctx = m->vm.ctx;
	JSValueConst args[2] = { features, flow };
	JSValue r, s;
	const char *txt;
	char *out = NULL;

	m->calls++;
	jsvm_arm(&m->vm);
	/* predict(features, flow): the flow lets a model keep state per flow across windows */
	r = JS_Call(ctx, m->predict, JS_UNDEFINED, 2, args);
	if (!JS_IsException(r)) {
		s = JS_JSONStringify(ctx, r, JS_UNDEFINED, JS_UNDEFINED);
		JS_FreeValue(ctx, r);
		r = s;
	}
	m->vm.deadline_ns = 0;
	if (JS_IsException(r)) {
		m->failures++;
		take_exception(ctx, err, errlen);
		/* Give back whatever a failed (or memory-hungry) call left. */
		JS_RunGC(m->vm.rt);
		return NULL;
	}
	txt = JS_IsUndefined(r) ? "null" : JS_ToCString(ctx, r);
	if (txt)
		out = js_strdup(ctx, txt);
	if (!JS_IsUndefined(r))
		JS_FreeCString(ctx, txt);
	JS_FreeValue(ctx, r);
	if (!out)
		snprintf(err, errlen, "predict: result could not be serialised");
	return out;
}

void model_free(struct model *m)
{
	if (m->vm.ctx)
		JS_FreeValue(m->vm.ctx, m->predict);
	jsvm_free(&m->vm);
}
