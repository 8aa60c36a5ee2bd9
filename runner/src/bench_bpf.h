/* SPDX-License-Identifier: MIT */
/* Benchmarks that run on the router itself (bench/platforms.ts runs them in the QEMU guests). */
#ifndef FW_BENCH_BPF_H
#define FW_BENCH_BPF_H

#include <stdint.h>

/* Prints one JSON line: ns per packet per case beside an empty program, and the load time. */
int bench_bpf(const char *object, uint32_t repeat, uint32_t new_flows);
/* Prints one JSON line: the guest clock's ns over a loop of n iterations. */
int bench_loop(uint64_t n);

#endif
