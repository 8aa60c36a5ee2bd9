// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The floor under fw_flows' first packet of a flow, for bench:bpf: the same LRU table, key and
 * record (fw_maps.h), and nothing but what inserting a flow takes: a lookup that misses, an
 * insert of the all-zero record, and the lookup that finds it. No parsing, no clock, no
 * counters. Keyed by the IPv4 source and ports at fixed offsets (bench:bpf's frames).
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include "fw_maps.h"

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, FW_FLOWS_MAX_ENTRIES);
	__type(key, struct fw_flow_key);
	__type(value, struct fw_flow);
} fw_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_RDONLY_PROG);
	__type(key, __u32);
	__type(value, struct fw_flow);
} fw_zero SEC(".maps");

SEC("tc")
int lru_floor(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct fw_flow_key key = {};
	struct fw_flow *f, *zero;
	__u32 z = 0;

	if (data + 14 + 20 + 4 > end)
		return TC_ACT_OK;
	__builtin_memcpy(key.addr_a + 12, data + 26, 4);
	__builtin_memcpy(&key.port_a, data + 34, 4);
	f = bpf_map_lookup_elem(&fw_flows, &key);
	if (!f) {
		zero = bpf_map_lookup_elem(&fw_zero, &z);
		if (!zero)
			return TC_ACT_OK;
		bpf_map_update_elem(&fw_flows, &key, zero, BPF_NOEXIST);
		f = bpf_map_lookup_elem(&fw_flows, &key);
	}
	if (f)
		f->dir[0].packets++;
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
