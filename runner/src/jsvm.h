/* SPDX-License-Identifier: MIT */
/* A QuickJS runtime with a memory and a time budget, for running untrusted-ish model code. */
#ifndef FW_JSVM_H
#define FW_JSVM_H

#include <stddef.h>
#include <stdint.h>
#include "quickjs.h"
#include "model.h"

struct jsvm {
	JSRuntime *rt;
	JSContext *ctx;
	struct run_limits limits;
	uint64_t deadline_ns; /* 0: no evaluation running */
};

int jsvm_init(struct jsvm *vm, const struct run_limits *limits);
void jsvm_free(struct jsvm *vm);

/* Compile source to bytecode in a malloc'd buffer; returns NULL and prints on error. */
uint8_t *jsvm_compile(struct jsvm *vm, const char *src, size_t len, const char *name, size_t *out_len);

/* Evaluate source or bytecode; the completion value is returned (JS_EXCEPTION on error). */
JSValue jsvm_eval_source(struct jsvm *vm, const char *src, size_t len, const char *name);
JSValue jsvm_eval_bytecode(struct jsvm *vm, const uint8_t *buf, size_t len);

/* Starts the time budget of one evaluation (the eval helpers do this themselves). */
void jsvm_arm(struct jsvm *vm);

/* Prints the pending exception (message and stack) to stderr, prefixed with what failed. */
void jsvm_report(struct jsvm *vm, const char *what);

/* The exception as one line of text into buf (an exception without a value is out of memory). */
void jsvm_exception_text(JSContext *ctx, JSValueConst exc, char *buf, size_t len);

#endif
