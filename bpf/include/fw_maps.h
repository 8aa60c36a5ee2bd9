/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Map layouts shared by the BPF programs (fw_flows.bpf.c) and user space (runner, test
 * harness). Rules: fixed-width fields, every field naturally aligned with explicit padding,
 * sizes pinned by static asserts. The kernel stores values in the CPU's byte order; user space
 * on the same router reads them in that order too. Addresses and ports stay in network order.
 */
#ifndef FW_MAPS_H
#define FW_MAPS_H

#include <linux/types.h>

/* Which way a packet goes relative to the LAN client. */
enum fw_dir {
	FW_DIR_UP = 0,   /* client -> server (requests, ACKs) */
	FW_DIR_DOWN = 1, /* server -> client (video) */
};

enum fw_hook {
	FW_HOOK_INGRESS = 0,
	FW_HOOK_EGRESS = 1,
	FW_HOOK_MAX = 2,
};

/*
 * Role of a watched interface: a LAN port faces the clients, a WAN port the servers. The
 * loader attaches fw_lan_* or fw_wan_* accordingly.
 */
enum fw_role {
	FW_ROLE_LAN = 0,
	FW_ROLE_WAN = 1,
};

/*
 * Canonical bidirectional flow key: the (address, port) pair that sorts lower is "a", so
 * both directions of a connection find the same record. IPv4 addresses are stored
 * IPv4-mapped (::ffff:a.b.c.d). Non-first fragments and protocols without ports have
 * ports 0.
 */
struct fw_flow_key {
	__u8 addr_a[16];
	__u8 addr_b[16];
	__be16 port_a;
	__be16 port_b;
	__u16 vlan;  /* 802.1Q VLAN id, 0 when untagged */
	__u8 proto;  /* IPPROTO_* */
	__u8 family; /* 4 or 6 */
};

#define FW_SIZE_BINS 8   /* wire size <=64, <=128, <=256, <=512, <=1024, <=1280, <=1518, larger */
#define FW_IAT_BINS 8    /* gap <10us, <100us, <1ms, <10ms, <100ms, <1s, <10s, longer */
#define FW_SEGMENTS 8    /* last segments kept per flow; power of two */
#define FW_EARLY_SEGMENTS 4 /* first segments whose end a flow keeps */

/* TCP flag bits as in the header's 13th byte (FIN=0x01 ... CWR=0x80). */
struct fw_dir_stats {
	__u64 packets;       /* wire packets: a GSO super-packet counts gso_segs */
	__u64 bytes;         /* wire bytes, L2 header included */
	__u64 payload_bytes; /* L4 payload */
	__u64 first_ns;      /* bpf_ktime_get_ns() of the first and last packet */
	__u64 last_ns;
	__u32 size_hist[FW_SIZE_BINS];
	__u32 iat_hist[FW_IAT_BINS];
	__u32 tcp_flags;     /* OR of every flag byte seen */
	__u32 next_seq;      /* TCP: highest sequence number + payload seen */
	__u32 retrans;       /* TCP payload starting below next_seq: retransmission or reordering */
	__u32 gaps;          /* TCP payload starting above next_seq: loss before this hop or reordering */
	__u32 seq_valid;     /* next_seq holds a value */
	__u32 retrans_bytes; /* payload of the retransmitted (below next_seq) packets */
	/*
	 * TCP: how far next_seq advanced, i.e. every byte of the stream once, whether a segment
	 * was lost before this hook (its resend is new here) or after it (its resend passes twice).
	 * 32 bits: the runner takes differences modulo 2^32, per window.
	 */
	__u32 stream_bytes;
	__u32 _pad;
};

/*
 * A segment as Traffic Refinery defines it: an upstream packet with payload (a request)
 * starts one, downstream payload adds to it, until the next request.
 */
struct fw_segment {
	__u64 start_ns;     /* first request packet */
	__u64 end_ns;       /* last packet of the segment either way */
	__u32 up_bytes;     /* request payload */
	__u32 down_bytes;   /* response payload */
	__u32 down_packets;
	__u32 _pad;
};

struct fw_flow {
	struct fw_dir_stats dir[2]; /* indexed by enum fw_dir */
	struct fw_segment seg[FW_SEGMENTS];
	/*
	 * end_ns of the flow's first FW_EARLY_SEGMENTS segments (0: not started). The ring forgets
	 * them within a few seconds of a fast flow, and they are when a video player got its
	 * manifest and first media: its startup delay.
	 */
	__u64 early_end_ns[FW_EARLY_SEGMENTS];
	/*
	 * With the in-kernel model (fw_forest.h): when the flow's current window ends. The first
	 * packet at or after it closes the window and is its last. 0 otherwise. Beside seg_count,
	 * in the same cache line, which a packet with payload touches anyway: at the end of the
	 * record it cost a packet of a cold flow 36 ns more (bench:bpf).
	 */
	__u64 window_end_ns;
	__u32 seg_count;  /* segments started so far; the newest is seg[(seg_count - 1) % FW_SEGMENTS] */
	__u32 client_is_b; /* 1 when the LAN client is endpoint b of the key */
	__u32 ifindex;    /* interface of the first packet */
	__u32 _pad;
};

/* Global counters per hook (per-CPU array, index enum fw_hook): reconcile with the interface. */
struct fw_hook_counters {
	__u64 packets;       /* every frame, IP or not (wire packets, GSO expanded) */
	__u64 bytes;         /* every frame's wire bytes */
	__u64 ipv4;
	__u64 ipv6;
	__u64 non_ip;        /* ARP, LLDP, ... */
	__u64 fragments;     /* non-first IP fragments (no L4 header) */
	__u64 truncated;     /* headers cut short: counted here, not in a flow */
	__u64 flows_created; /* new flow records inserted */
	__u64 flow_failed;   /* a new flow could not be inserted: its packet is not in any flow */
	/*
	 * Wire packets and bytes of flows whose only packet so far waited in a pending slot and
	 * was pushed out by another new flow's first packet on the same CPU: in no flow record.
	 * Counted at the hook of the packet that pushed them out.
	 */
	__u64 displaced;
	__u64 displaced_bytes;
};

/*
 * A flow's first packet, parked per CPU until the flow's second packet (or a flush) records
 * the flow. Inserting into the LRU table is what a new flow costs (nine tenths of it); a
 * flood of one-packet flows should not pay it, and a flow worth measuring has a second packet.
 * Direct-mapped by a hash of the key: a slot holds the newest flow that hashed to it.
 */
#define FW_PENDING_BITS 10
#define FW_PENDING_SLOTS (1u << FW_PENDING_BITS) /* per CPU */
#define FW_PENDING_TCP 1      /* the packet had a TCP header (not a later fragment) */
#define FW_PENDING_CLIENT_B 2 /* the LAN client is endpoint b of the key */

struct fw_pending {
	struct fw_flow_key key;
	__u64 ns;       /* bpf_ktime_get_ns() of the packet; 0: the slot is free */
	__u32 wire;     /* wire bytes, GSO expanded */
	__u32 payload;  /* L4 payload bytes */
	__u32 seq;      /* TCP sequence number */
	__u32 segs;     /* wire packets (gso_segs) */
	__u32 ifindex;
	__u8 tcp_flags;
	__u8 dir;       /* enum fw_dir */
	__u8 hook;      /* enum fw_hook */
	__u8 flags;     /* FW_PENDING_* */
};

#define FW_FLOWS_MAX_ENTRIES 4096

#ifndef __bpf__
_Static_assert(sizeof(struct fw_flow_key) == 40, "fw_flow_key layout");
_Static_assert(sizeof(struct fw_dir_stats) == 136, "fw_dir_stats layout");
_Static_assert(sizeof(struct fw_segment) == 32, "fw_segment layout");
_Static_assert(sizeof(struct fw_flow) == 2 * 136 + FW_SEGMENTS * 32 + FW_EARLY_SEGMENTS * 8 + 24, "fw_flow layout");
_Static_assert(sizeof(struct fw_hook_counters) == 88, "fw_hook_counters layout");
_Static_assert(sizeof(struct fw_pending) == 72, "fw_pending layout");
_Static_assert(FW_PENDING_SLOTS <= 65536, "fw_flush takes a slot number in two bytes");

/* User side: a per-CPU counters value holds one struct per CPU; this adds one into a sum. */
static inline void fw_hook_counters_add(struct fw_hook_counters *sum, const struct fw_hook_counters *c)
{
	sum->packets += c->packets;
	sum->bytes += c->bytes;
	sum->ipv4 += c->ipv4;
	sum->ipv6 += c->ipv6;
	sum->non_ip += c->non_ip;
	sum->fragments += c->fragments;
	sum->truncated += c->truncated;
	sum->flows_created += c->flows_created;
	sum->flow_failed += c->flow_failed;
	sum->displaced += c->displaced;
	sum->displaced_bytes += c->displaced_bytes;
}
#endif

#endif
