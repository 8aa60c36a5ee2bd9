/* SPDX-License-Identifier: MIT */
#ifndef FW_WATCH_H
#define FW_WATCH_H

#include <stdint.h>
#include "config.h"

/* CLOCK_MONOTONIC in ns (under QEMU -icount shift=0, guest instructions). */
uint64_t mono_ns(void);

/* Attaches, then every window reads the flows, runs the model and writes JSON lines. */
int watch_run(const struct runner_config *c);
/* Feature vectors (JSON lines) on stdin through the model: one JSON result line each. */
int predict_lines(const struct runner_config *c);
/* One window over `n` synthetic flows without the kernel: for benchmarks on every CPU. */
int bench_window(const struct runner_config *c, uint32_t n);

#endif
