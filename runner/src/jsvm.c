/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "jsvm.h"

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* QuickJS polls this every few thousand bytecodes; non-zero aborts with an uncatchable error. */
static int interrupt_handler(JSRuntime *rt, void *opaque)
{
	struct jsvm *vm = opaque;

	(void)rt;
	return vm->deadline_ns != 0 && now_ns() > vm->deadline_ns;
}

void jsvm_arm(struct jsvm *vm)
{
	vm->deadline_ns = vm->limits.time_ms ? now_ns() + (uint64_t)vm->limits.time_ms * 1000000u : 0;
}

/* console.log for models: to stderr, so stdout stays one JSON document per line. */
static JSValue js_log(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
	(void)this_val;
	for (int i = 0; i < argc; i++) {
		const char *s = JS_ToCString(ctx, argv[i]);

		fprintf(stderr, "%s%s", i ? " " : "", s ? s : "?");
		JS_FreeCString(ctx, s);
	}
	fputc('\n', stderr);
	return JS_UNDEFINED;
}

int jsvm_init(struct jsvm *vm, const struct run_limits *limits)
{
	JSValue global, console;

	memset(vm, 0, sizeof(*vm));
	vm->limits = *limits;
	vm->rt = JS_NewRuntime();
	if (!vm->rt)
		return -1;
	if (limits->memory_bytes)
		JS_SetMemoryLimit(vm->rt, limits->memory_bytes);
	JS_SetMaxStackSize(vm->rt, 256 * 1024);
	JS_SetInterruptHandler(vm->rt, interrupt_handler, vm);
	vm->ctx = JS_NewContext(vm->rt);
	if (!vm->ctx) {
		JS_FreeRuntime(vm->rt);
		return -1;
	}
	global = JS_GetGlobalObject(vm->ctx);
	console = JS_NewObject(vm->ctx);
	JS_SetPropertyStr(vm->ctx, console, "log", JS_NewCFunction(vm->ctx, js_log, "log", 1));
	JS_SetPropertyStr(vm->ctx, global, "console", console);
	JS_FreeValue(vm->ctx, global);
	return 0;
}

void jsvm_free(struct jsvm *vm)
{
	if (vm->ctx)
		JS_FreeContext(vm->ctx);
	if (vm->rt)
		JS_FreeRuntime(vm->rt);
	memset(vm, 0, sizeof(*vm));
}

uint8_t *jsvm_compile(struct jsvm *vm, const char *src, size_t len, const char *name, size_t *out_len)
{
	JSValue obj;
	uint8_t *buf, *copy;

	jsvm_arm(vm);
	obj = JS_Eval(vm->ctx, src, len, name, JS_EVAL_TYPE_GLOBAL | JS_EVAL_FLAG_COMPILE_ONLY);
	vm->deadline_ns = 0;
	if (JS_IsException(obj)) {
		jsvm_report(vm, "compile");
		return NULL;
	}
	buf = JS_WriteObject(vm->ctx, out_len, obj, JS_WRITE_OBJ_BYTECODE);
	JS_FreeValue(vm->ctx, obj);
	if (!buf) {
		jsvm_report(vm, "serialise");
		return NULL;
	}
	/* Hand back plain malloc memory so callers need not know about js_free. */
	copy = malloc(*out_len);
	if (copy)
		memcpy(copy, buf, *out_len);
	js_free(vm->ctx, buf);
	return copy;
}

JSValue jsvm_eval_source(struct jsvm *vm, const char *src, size_t len, const char *name)
{
	JSValue v;

	jsvm_arm(vm);
	v = JS_Eval(vm->ctx, src, len, name, JS_EVAL_TYPE_GLOBAL);
	vm->deadline_ns = 0;
	return v;
}

JSValue jsvm_eval_bytecode(struct jsvm *vm, const uint8_t *buf, size_t len)
{
	JSValue obj, v;

	obj = JS_ReadObject(vm->ctx, buf, len, JS_READ_OBJ_BYTECODE);
	if (JS_IsException(obj))
		return obj;
	jsvm_arm(vm);
	v = JS_EvalFunction(vm->ctx, obj); /* takes ownership of obj */
	vm->deadline_ns = 0;
	return v;
}

void jsvm_exception_text(JSContext *ctx, JSValueConst exc, char *buf, size_t len)
{
	const char *s;

	/* QuickJS out of memory with no room left even for the InternalError it would throw */
	if (JS_IsNull(exc)) {
		snprintf(buf, len, "InternalError: out of memory (the JS heap is full: see mem_limit)");
		return;
	}
	s = JS_ToCString(ctx, exc);
	snprintf(buf, len, "%s", s ? s : "an error that cannot be printed (out of memory?)");
	JS_FreeCString(ctx, s);
}

void jsvm_report(struct jsvm *vm, const char *what)
{
	JSValue exc = JS_GetException(vm->ctx);
	char msg[300];

	jsvm_exception_text(vm->ctx, exc, msg, sizeof(msg));
	fprintf(stderr, "fwrunner: %s failed: %s\n", what, msg);
	if (JS_IsObject(exc)) {
		JSValue stack = JS_GetPropertyStr(vm->ctx, exc, "stack");

		if (JS_IsString(stack)) {
			const char *s = JS_ToCString(vm->ctx, stack);

			fprintf(stderr, "%s", s ? s : "");
			JS_FreeCString(vm->ctx, s);
		}
		JS_FreeValue(vm->ctx, stack);
	}
	JS_FreeValue(vm->ctx, exc);
}
