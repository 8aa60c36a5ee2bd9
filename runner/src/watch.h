/* SPDX-License-Identifier: MIT */
#ifndef FW_WATCH_H
#define FW_WATCH_H

#include "config.h"

/* Attaches, then every window reads the flows, runs the model and writes JSON lines. */
int watch_run(const struct runner_config *c);
/* Feature vectors (JSON lines) on stdin through the model: one JSON result line each. */
int predict_lines(const struct runner_config *c);
/* One window over `n` synthetic flows without the kernel: for benchmarks on every CPU. */
int bench_window(const struct runner_config *c, uint32_t n);

#endif
