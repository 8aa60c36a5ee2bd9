// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Lab tooling, not shipped: drops a fixed share of packets at random, standing in for netem's
 * loss (the lab machines' kernel has no sch_netem). The share is fixed at compile time, in
 * parts per million: the Makefile builds one object per rate the lab's traces use.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#ifndef LOSS_PPM
#error "build with -DLOSS_PPM=<parts per million>"
#endif

SEC("tc")
int lab_loss(struct __sk_buff *skb)
{
	return bpf_get_prandom_u32() % 1000000 < LOSS_PPM ? TC_ACT_SHOT : TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
