/* SPDX-License-Identifier: MIT */
#ifndef FW_WATCH_H
#define FW_WATCH_H

#include "config.h"

/* Attaches, then every window reads the flows, runs the model and writes JSON lines. */
int watch_run(const struct runner_config *c);
/* Feature vectors (JSON lines) on stdin through the model: one JSON result line each. */
int predict_lines(const struct runner_config *c);

#endif
