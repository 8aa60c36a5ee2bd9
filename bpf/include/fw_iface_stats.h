/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Map layouts shared by the BPF programs and the runner. Fixed-width, naturally aligned
 * fields only: the same bytes are read by user space on big- and little-endian routers, and
 * the kernel stores them in the CPU's native order, so no field may depend on padding.
 */
#ifndef FW_IFACE_STATS_H
#define FW_IFACE_STATS_H

#include <linux/types.h>

enum fw_hook {
	FW_HOOK_INGRESS = 0,
	FW_HOOK_EGRESS = 1,
};

/* Key of the per-interface counters: one entry per interface and TC hook. */
struct fw_iface_key {
	__u32 ifindex;
	__u32 hook; /* enum fw_hook */
};

/* Per-CPU values: user space sums them. Wire bytes (skb->len at TC), every frame counted. */
struct fw_iface_counters {
	__u64 packets;
	__u64 bytes;
	__u64 ipv4_packets;
	__u64 ipv6_packets;
	__u64 other_packets; /* ARP, LLDP, anything not IP */
};

#define FW_IFACE_STATS_MAX_ENTRIES 64

#endif
