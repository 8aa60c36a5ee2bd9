// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The baseline for benchmarks: a TC program that does nothing but pass the packet. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

SEC("tc")
int empty_tc(struct __sk_buff *skb)
{
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
