// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Per-interface packet and byte counters at the TC (clsact) ingress and egress hooks: the
 * reconciliation baseline for the flow extractor. Passes every packet through unchanged.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "fw_iface_stats.h"

/*
 * Per-CPU values so the hot path needs no atomic add: the ARM32 JIT in Linux 6.1 rejects
 * BPF atomic instructions (ENOTSUPP) rather than falling back to the interpreter.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, FW_IFACE_STATS_MAX_ENTRIES);
	__type(key, struct fw_iface_key);
	__type(value, struct fw_iface_counters);
} fw_iface_stats SEC(".maps");

static __always_inline int count(struct __sk_buff *skb, __u32 hook)
{
	struct fw_iface_key key = { .ifindex = skb->ifindex, .hook = hook };
	struct fw_iface_counters *c = bpf_map_lookup_elem(&fw_iface_stats, &key);

	if (!c) {
		struct fw_iface_counters zero = {};

		/* BPF_NOEXIST: a racing CPU may have created it; either way look it up again. */
		bpf_map_update_elem(&fw_iface_stats, &key, &zero, BPF_NOEXIST);
		c = bpf_map_lookup_elem(&fw_iface_stats, &key);
		if (!c)
			return TC_ACT_OK; /* table full: never drop traffic for accounting */
	}
	c->packets++;
	c->bytes += skb->len;
	/* skb->protocol is in network byte order on every host. */
	if (skb->protocol == bpf_htons(ETH_P_IP))
		c->ipv4_packets++;
	else if (skb->protocol == bpf_htons(ETH_P_IPV6))
		c->ipv6_packets++;
	else
		c->other_packets++;
	return TC_ACT_OK;
}

SEC("tc")
int fw_ingress(struct __sk_buff *skb)
{
	return count(skb, FW_HOOK_INGRESS);
}

SEC("tc")
int fw_egress(struct __sk_buff *skb)
{
	return count(skb, FW_HOOK_EGRESS);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
