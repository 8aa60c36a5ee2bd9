/* SPDX-License-Identifier: MIT */
/* The model run by QuickJS: everything in the runner that knows about JavaScript is here. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "jsvm.h"
#include "model.h"

struct model {
	struct jsvm vm;
	JSValue predict;
	/* made once per context: building a feature object then does no string hashing */
	JSAtom scalar[FEATURE_SCALARS], hist[FEATURE_HISTS];
	int atoms;
	unsigned long calls, failures;
};

const char *model_engine(void)
{
	return "QuickJS " CONFIG_VERSION;
}

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

static int load_script(struct model *m, const char *path, const struct run_limits *limits, char *err, size_t errlen)
{
	size_t len = 0, n = strlen(path);
	char *buf;
	JSValue v, g;

	buf = slurp(path, &len);
	if (!buf) {
		snprintf(err, errlen, "model %s: cannot read it", path);
		return -1;
	}
	/* Loading is done once and may compile source: a wider time budget than one prediction. */
	struct run_limits load = *limits;

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

struct model *model_open(const char *path, const struct run_limits *limits, char *err, size_t errlen)
{
	struct model *m = calloc(1, sizeof(*m));

	if (!m) {
		snprintf(err, errlen, "model: %s", strerror(errno));
		return NULL;
	}
	m->predict = JS_UNDEFINED;
	if (!strcmp(path, "none"))
		return m;
	if (load_script(m, path, limits, err, errlen)) {
		model_close(m);
		return NULL;
	}
	for (int i = 0; i < FEATURE_SCALARS; i++)
		m->scalar[i] = JS_NewAtom(m->vm.ctx, feature_scalar_names[i]);
	for (int i = 0; i < FEATURE_HISTS; i++)
		m->hist[i] = JS_NewAtom(m->vm.ctx, feature_hist_names[i]);
	m->atoms = 1;
	return m;
}

int model_predicts(const struct model *m)
{
	return !JS_IsUndefined(m->predict);
}

static JSValue features_to_js(struct model *m, const struct features *x)
{
	JSContext *ctx = m->vm.ctx;
	JSValue o = JS_NewObject(ctx);

	for (int i = 0; i < FEATURE_SCALARS; i++)
		JS_SetProperty(ctx, o, m->scalar[i], JS_NewFloat64(ctx, x->scalar[i]));
	for (int h = 0; h < FEATURE_HISTS; h++) {
		JSValue arr = JS_NewArray(ctx);

		for (int i = 0; i < feature_hist_len[h]; i++)
			JS_SetPropertyUint32(ctx, arr, (uint32_t)i, JS_NewFloat64(ctx, x->hist[h][i]));
		JS_SetProperty(ctx, o, m->hist[h], arr);
	}
	return o;
}

static JSValue flow_to_js(JSContext *ctx, const struct model_flow *f)
{
	JSValue o = JS_NewObject(ctx);

	JS_SetPropertyStr(ctx, o, "id", JS_NewUint32(ctx, f->id));
	JS_SetPropertyStr(ctx, o, "proto", JS_NewInt32(ctx, (int32_t)f->proto));
	JS_SetPropertyStr(ctx, o, "client", JS_NewString(ctx, f->client));
	JS_SetPropertyStr(ctx, o, "clientPort", JS_NewInt32(ctx, (int32_t)f->client_port));
	JS_SetPropertyStr(ctx, o, "server", JS_NewString(ctx, f->server));
	JS_SetPropertyStr(ctx, o, "serverPort", JS_NewInt32(ctx, (int32_t)f->server_port));
	JS_SetPropertyStr(ctx, o, "vlan", JS_NewInt32(ctx, (int32_t)f->vlan));
	return o;
}

/* predict(features, flow) as JSON text; consumes neither argument. The callers check there is a predict(). */
static char *call_predict(struct model *m, JSValueConst features, JSValueConst flow, char *err, size_t errlen)
{
	JSContext *ctx = m->vm.ctx;
	JSValueConst args[2] = { features, flow };
	JSValue r, s;
	const char *txt;
	char *out = NULL;

	m->calls++;
	jsvm_arm(&m->vm);
	/* the flow lets a model keep state per flow across windows */
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
		out = strdup(txt);
	if (!JS_IsUndefined(r))
		JS_FreeCString(ctx, txt);
	JS_FreeValue(ctx, r);
	if (!out)
		snprintf(err, errlen, "predict: result could not be serialised");
	return out;
}

char *model_predict(struct model *m, const struct features *x, const struct model_flow *flow, char *err, size_t errlen)
{
	JSValue feats, fl;
	char *out;

	if (!model_predicts(m)) {
		snprintf(err, errlen, "no model");
		return NULL;
	}
	feats = features_to_js(m, x);
	fl = flow_to_js(m->vm.ctx, flow);
	out = call_predict(m, feats, fl, err, errlen);
	JS_FreeValue(m->vm.ctx, feats);
	JS_FreeValue(m->vm.ctx, fl);
	return out;
}

char *model_predict_line(struct model *m, const char *line, size_t len, char *err, size_t errlen, int *bad_input)
{
	JSContext *ctx = m->vm.ctx;
	JSValue feats, inner, flow = JS_UNDEFINED;
	char *out;

	*bad_input = 0;
	if (!model_predicts(m)) {
		snprintf(err, errlen, "no model");
		return NULL;
	}
	feats = JS_ParseJSON(ctx, line, len, "<stdin>");
	if (JS_IsException(feats)) {
		take_exception(ctx, err, errlen);
		*bad_input = 1;
		return NULL;
	}
	/* a recorded line holds {flow, features}; a bare object is the features themselves */
	inner = JS_GetPropertyStr(ctx, feats, "features");
	if (JS_IsObject(inner)) {
		flow = JS_GetPropertyStr(ctx, feats, "flow");
		JS_FreeValue(ctx, feats);
		feats = inner;
	} else {
		JS_FreeValue(ctx, inner);
	}
	out = call_predict(m, feats, flow, err, errlen);
	JS_FreeValue(ctx, feats);
	JS_FreeValue(ctx, flow);
	return out;
}

void model_counts(const struct model *m, unsigned long *calls, unsigned long *failures)
{
	*calls = m->calls;
	*failures = m->failures;
}

void model_close(struct model *m)
{
	if (!m)
		return;
	if (m->vm.ctx) {
		if (m->atoms) {
			for (int i = 0; i < FEATURE_SCALARS; i++)
				JS_FreeAtom(m->vm.ctx, m->scalar[i]);
			for (int i = 0; i < FEATURE_HISTS; i++)
				JS_FreeAtom(m->vm.ctx, m->hist[i]);
		}
		JS_FreeValue(m->vm.ctx, m->predict);
	}
	jsvm_free(&m->vm);
	free(m);
}

/* Prints a value as one JSON line; 0 on success. */
static int print_json(struct jsvm *vm, JSValue v, const char *what)
{
	JSValue s;
	const char *str;

	if (JS_IsException(v)) {
		jsvm_report(vm, what);
		return -1;
	}
	s = JS_JSONStringify(vm->ctx, v, JS_UNDEFINED, JS_UNDEFINED);
	JS_FreeValue(vm->ctx, v);
	if (JS_IsException(s)) {
		jsvm_report(vm, "JSON.stringify");
		return -1;
	}
	str = JS_IsUndefined(s) ? NULL : JS_ToCString(vm->ctx, s);
	printf("%s\n", str ? str : "null");
	JS_FreeCString(vm->ctx, str);
	JS_FreeValue(vm->ctx, s);
	return 0;
}

static int write_file(const char *path, const uint8_t *buf, size_t len)
{
	FILE *f = fopen(path, "wb");

	if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
		fprintf(stderr, "fwrunner: cannot write %s: %s\n", path, strerror(errno));
		if (f)
			fclose(f);
		return -1;
	}
	return 0;
}

int model_script(const char *cmd, const char *in, const char *out, const struct run_limits *limits)
{
	struct jsvm vm;
	size_t len = 0;
	char *src;
	int rc;

	errno = 0;
	src = slurp(in, &len);
	if (!src) {
		if (errno)
			fprintf(stderr, "fwrunner: cannot open %s: %s\n", in, strerror(errno));
		else
			fprintf(stderr, "fwrunner: cannot read %s\n", in);
		return 1;
	}
	if (jsvm_init(&vm, limits) != 0) {
		fprintf(stderr, "fwrunner: cannot create a JS runtime\n");
		free(src);
		return 1;
	}
	if (!strcmp(cmd, "eval")) {
		rc = print_json(&vm, jsvm_eval_source(&vm, src, len, in), "eval") ? 1 : 0;
	} else if (!strcmp(cmd, "run")) {
		rc = print_json(&vm, jsvm_eval_bytecode(&vm, (const uint8_t *)src, len), "run") ? 1 : 0;
	} else {
		size_t out_len;
		uint8_t *bc = jsvm_compile(&vm, src, len, in, &out_len);

		rc = bc && write_file(out, bc, out_len) == 0 ? 0 : 1;
		free(bc);
	}
	jsvm_free(&vm);
	free(src);
	return rc;
}
