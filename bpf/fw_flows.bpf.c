// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Per-flow traffic features at the TC (clsact) hooks, after Bronzino et al. 2019 and Traffic
 * Refinery. Attach fw_{lan,wan}_{ingress,egress} to each watched interface by its role; all
 * share one flow table. Every packet passes unchanged (TC_ACT_OK).
 *
 * Limits this code keeps to, for OpenWrt 23.05 (Linux 5.15) and every router CPU:
 *  - no CO-RE: only the stable __sk_buff context and packet bytes are read;
 *  - no BPF atomic instructions and no 64-bit division: the ARM32 JIT in 6.1 rejects both
 *    with ENOTSUPP instead of falling back to the interpreter (seen on qemu-armv7). Global
 *    counters are per-CPU. A flow's two directions live in separate fields, so each field has
 *    one writer as long as one direction of a flow is handled on one CPU at a time (a receive
 *    queue, RSS or RPS keep it so for forwarded traffic; local senders on two CPUs do not, and
 *    then an increment can be lost); the segment state shared by both directions is a hint.
 */
#include <stdbool.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "fw_maps.h"
#ifdef FW_FOREST
#include "fw_forest.h"
#include "fw_forest_model.h"
#endif

/*
 * The header nibbles (IPv4 version/IHL, IPv6 version, TCP data offset) are read as bytes, not
 * through the bitfields of linux/ip.h and linux/tcp.h: those pick their layout from the build
 * host's asm/byteorder.h, which is little-endian here, so for bpfeb they would read the wrong
 * nibble and every IP packet would look malformed on a big-endian router.
 */
#define HI_NIBBLE(p, i) (((const __u8 *)(p))[i] >> 4)
#define LO_NIBBLE(p, i) (((const __u8 *)(p))[i] & 0x0f)

#define ETH_P_8021Q_BE bpf_htons(0x8100)
#define ETH_P_8021AD_BE bpf_htons(0x88A8)
#define ETH_P_PPP_SES_BE bpf_htons(0x8864)
#define PPP_IP_BE bpf_htons(0x0021)
#define PPP_IPV6_BE bpf_htons(0x0057)
/* 802.1ad + two 802.1Q tags are real on some ISP links; one more may sit in the skb */
#define VLAN_MAX_DEPTH 3
#define IPV6_EXT_MAX 6 /* extension headers walked before giving up on ports */
/* Headers start below this offset (6 extension headers of at most 2,048 bytes fit). */
#define HDR_OFF_MAX 0x3fff

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, FW_FLOWS_MAX_ENTRIES);
	__type(key, struct fw_flow_key);
	__type(value, struct fw_flow);
} fw_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FW_HOOK_MAX);
	__type(key, __u32);
	__type(value, struct fw_hook_counters);
} fw_counters SEC(".maps");

/* First packets of flows not yet in fw_flows: see struct fw_pending. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FW_PENDING_SLOTS);
	__type(key, __u32);
	__type(value, struct fw_pending);
} fw_pending SEC(".maps");

/*
 * An all-zero flow record to insert new flows from: struct fw_flow is larger than the
 * 512-byte BPF stack, so it cannot be built there. Nothing ever writes to this map.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_RDONLY_PROG);
	__type(key, __u32);
	__type(value, struct fw_flow);
} fw_zero SEC(".maps");

#ifdef FW_FOREST
/* The model's answers and each flow's window state: see struct fw_window. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, FW_WINDOWS_MAX_ENTRIES);
	__type(key, struct fw_flow_key);
	__type(value, struct fw_window);
} fw_windows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fw_forest_scratch);
} fw_scratch SEC(".maps");

/* fw_window_end, which the packet programs tail-call when a flow's window ends */
int fw_window_end(struct __sk_buff *skb);
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, int(struct __sk_buff *));
} fw_window_prog SEC(".maps") = {
	.values = { [0] = (void *)&fw_window_end },
};

/* The model was trained on 10 s windows; a loader may shorten them for tests (.rodata). */
const volatile __u64 fw_window_ns = 10000000000ULL;
#endif

/* What the parser learnt about one packet. */
struct pkt {
	struct fw_flow_key key;   /* src in a, dst in b until canonicalised */
	__u32 l2_l4_hdr;          /* bytes of headers before the payload (for GSO expansion) */
	__u32 payload;            /* L4 payload bytes of this skb (all GSO segments) */
	__u32 seq;                /* TCP sequence number */
	__u8 tcp_flags;
	bool fragment;            /* non-first fragment: no L4 header */
};


/*
 * Branch-free tests. The verifier walks every path through the parser, and two paths meet
 * again only where their states agree; a branch per header kind teaches it a different
 * constant on each side (a length, an offset, a flag), so everything after a branch was walked
 * once per kind, and a chain of headers multiplied those walks. Values computed with these stay
 * "0 or 1" to the verifier on every path, so the paths stay one.
 * EQ: 1 when x == k, for x and k below 2^32. NZ: 1 when x != 0, for x below 2^63.
 */
#define EQ(x, k) ((__u64)((__u64)((__u32)(x) ^ (__u32)(k)) - 1) >> 63)
#define NZ(x) ((__u64)(-(__s64)(__u64)(x)) >> 63)
/* c ? a : b for c in {0, 1}, without a branch */
#define SEL(c, a, b) ((b) ^ (((a) ^ (b)) & -(c)))

/*
 * Tells the verifier what is already true of a header offset, before it goes into a packet
 * pointer: it is below HDR_OFF_MAX, and its last two bits are the link header's length's
 * (Ethernet 14, none on an L3 device; VLAN tags, PPPoE, IPv4 options and IPv6 extension headers
 * are all multiples of 4 long). For every real offset this changes nothing. Linux 6.1's
 * verifier loses both facts in the branch-free arithmetic below, and then gives a packet
 * pointer no range (the offset might pass 64 KiB) and refuses 2- and 4-byte reads through it
 * on CPUs without unaligned access (MIPS). The barrier keeps the compiler from dropping the
 * test and the mask as no-ops. false: a header chain longer than any real one.
 */
static __always_inline bool hdr_off(__u32 *off, const bool eth)
{
	__u32 o = *off;

	asm volatile("" : "+r"(o));
	if (o > HDR_OFF_MAX)
		return false;
	*off = (o & (HDR_OFF_MAX & ~3u)) | (eth ? sizeof(struct ethhdr) & 3 : 0);
	return true;
}

/* Bounds check the verifier can follow: [off, off+len) lies inside the packet. */
#define HAVE(data, end, off, len) ((void *)(data) + (off) + (len) <= (void *)(end))

/*
 * A 4-byte packet field, as a 4-byte load would read it. Behind a 14-byte Ethernet header the IP
 * header sits on a 4-byte boundary; on an L3 device it starts the packet, which the verifier of a
 * CPU without efficient unaligned access (MIPS) takes to start 2 bytes past one (NET_IP_ALIGN)
 * and where it refuses 4-byte loads: two 2-byte loads there instead.
 */
static __always_inline __u32 pkt_u32(const void *f, const bool eth)
{
	const __u16 *h = f;

	if (eth)
		return *(const __u32 *)f;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return (__u32)h[0] | (__u32)h[1] << 16;
#else
	return (__u32)h[0] << 16 | (__u32)h[1];
#endif
}

static __always_inline void pkt_addr6(__u8 *dst, const void *f, const bool eth)
{
	for (int i = 0; i < 4; i++) {
		__u32 w = pkt_u32(f + 4 * i, eth);

		__builtin_memcpy(dst + 4 * i, &w, 4);
	}
}

static __always_inline void v4_mapped(__u8 *dst, __be32 addr)
{
	__builtin_memset(dst, 0, 10);
	dst[10] = 0xff;
	dst[11] = 0xff;
	__builtin_memcpy(dst + 12, &addr, 4);
}

static __always_inline int parse_l4(void *data, void *end, __u32 off, __u8 proto, __u32 l4_len, struct pkt *p,
				    const bool eth)
{
	if (proto == IPPROTO_TCP) {
		struct tcphdr *th = data + off;
		__u32 doff;

		if (!HAVE(data, end, off, sizeof(*th)))
			return -1;
		doff = HI_NIBBLE(th, 12) * 4;
		if (doff < sizeof(*th) || doff > l4_len)
			return -1;
		p->key.port_a = th->source;
		p->key.port_b = th->dest;
		p->seq = bpf_ntohl(pkt_u32(&th->seq, eth));
		p->tcp_flags = ((__u8 *)th)[13];
		p->l2_l4_hdr = off + doff;
		p->payload = l4_len - doff;
	} else if (proto == IPPROTO_UDP) {
		struct udphdr *uh = data + off;

		if (!HAVE(data, end, off, sizeof(*uh)) || l4_len < sizeof(*uh))
			return -1;
		p->key.port_a = uh->source;
		p->key.port_b = uh->dest;
		p->l2_l4_hdr = off + sizeof(*uh);
		p->payload = l4_len - sizeof(*uh);
	} else {
		p->l2_l4_hdr = off;
		p->payload = l4_len;
	}
	return 0;
}

/*
 * Returns 0 for an IP packet filled into p, 1 for non-IP, -1 for a truncated or bad header.
 * `eth` is a constant per program: an Ethernet port's packets start with the MAC header; an L3
 * device's (tun, WireGuard, PPP, raw-IP modems: ARPHRD_NONE, _PPP, _RAWIP, ...) start with the
 * IP header, and skb->protocol says which IP. The loader picks the variant by the device's link
 * type, as qosify does; a test on its own never tells the two apart, and a guess would read
 * payload bytes as addresses.
 */
static __always_inline int parse(struct __sk_buff *skb, struct pkt *p, __u16 *l3proto, const bool eth)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	__u32 off = 0;
	__be16 proto;

	/* A tag the NIC or veth already stripped sits in the skb; an in-band tag in the data. */
	if (skb->vlan_present)
		p->key.vlan = skb->vlan_tci & 0x0fff;
	if (!eth) {
		proto = (__be16)skb->protocol;
		goto l3;
	}
	if (!HAVE(data, end, 0, sizeof(struct ethhdr)))
		return -1;
	proto = ((struct ethhdr *)data)->h_proto;
	off = sizeof(struct ethhdr);
	/*
	 * Up to VLAN_MAX_DEPTH tags, without a branch per tag: a tag moves `off` by 4, and the
	 * protocol is read again just before `off` (the same field when there was no tag). Untagged
	 * frames, nearly all of them, skip the walk: two paths for the verifier, not one per depth.
	 */
#pragma unroll
	for (int i = 0; i < VLAN_MAX_DEPTH && (i || EQ(proto, ETH_P_8021Q_BE) | EQ(proto, ETH_P_8021AD_BE)); i++) {
		__u32 tag = EQ(proto, ETH_P_8021Q_BE) | EQ(proto, ETH_P_8021AD_BE);
		__u32 at;
		__u8 *t;

		off += tag << 2;
		/* the 4 bytes before `off`: the tag just passed (TCI, inner protocol), or the MAC
		 * header's last ones; addressed from their start, as the verifier needs */
		at = off - 4;
		asm volatile("" : "+r"(at));
		t = data + at;
		if ((void *)(t + 4) > end)
			return -1;
		/* the outermost tag's VLAN id, unless the skb carried one */
		p->key.vlan = SEL(tag & !p->key.vlan, bpf_ntohs(*(__be16 *)t) & 0x0fff, p->key.vlan);
		proto = *(__be16 *)(t + 2);
	}
	/* PPPoE session frames (the Ethernet side of a DSL WAN): 6-byte PPPoE header, then PPP's
	 * 2-byte protocol. Anything but IPv4 and IPv6 (LCP, IPCP, ...) is not IP. */
	if (proto == ETH_P_PPP_SES_BE) {
		__be16 ppp;

		if (!HAVE(data, end, off, 8))
			return -1;
		ppp = *(__be16 *)(data + off + 6);
		if (ppp == PPP_IP_BE)
			proto = bpf_htons(ETH_P_IP);
		else if (ppp == PPP_IPV6_BE)
			proto = bpf_htons(ETH_P_IPV6);
		else
			return 1;
		off += 8;
	}
l3:
	*l3proto = proto;

	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *iph = data + off;
		__u32 ihl, tot;
		__be16 frag;

		if (!HAVE(data, end, off, sizeof(*iph)))
			return -1;
		ihl = LO_NIBBLE(iph, 0) * 4;
		tot = bpf_ntohs(iph->tot_len);
		/* GSO super-packets carry tot_len 0 (BIG TCP) or one segment's length: trust the skb. */
		if (skb->gso_segs > 1 || tot == 0)
			tot = skb->len - off;
		/* A header never counts more than arrived; clamp before comparing with ihl, or a
		 * frame claiming ihl 60 in a 46-byte datagram wraps tot - ihl to 4 GB. */
		if (tot > skb->len - off)
			tot = skb->len - off;
		if (HI_NIBBLE(iph, 0) != 4 || ihl < sizeof(*iph) || tot < ihl)
			return -1;
		p->key.family = 4;
		p->key.proto = iph->protocol;
		v4_mapped(p->key.addr_a, pkt_u32(&iph->saddr, eth));
		v4_mapped(p->key.addr_b, pkt_u32(&iph->daddr, eth));
		frag = iph->frag_off & bpf_htons(0x1fff);
		if (!frag && parse_l4(data, end, off + ihl, iph->protocol, tot - ihl, p, eth) == 0)
			return 0;
		/* A later fragment has no L4 header; a first fragment too short to hold one goes
		 * with them (port-less) instead of being lost as truncated. */
		if (!frag && !(iph->frag_off & bpf_htons(0x2000)))
			return -1;
		p->fragment = true;
		p->l2_l4_hdr = off + ihl;
		p->payload = tot - ihl;
		return 0;
	}
	if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = data + off;
		__u32 plen;
		__u8 nexthdr;
		__u32 first_frag = 0, later_frag = 0;

		if (!HAVE(data, end, off, sizeof(*ip6)))
			return -1;
		if (HI_NIBBLE(ip6, 0) != 6)
			return -1;
		p->key.family = 6;
		pkt_addr6(p->key.addr_a, &ip6->saddr, eth);
		pkt_addr6(p->key.addr_b, &ip6->daddr, eth);
		plen = bpf_ntohs(ip6->payload_len);
		if (skb->gso_segs > 1 || plen == 0)
			plen = skb->len - off - sizeof(*ip6);
		/* as for IPv4: never more payload than the frame holds */
		if (plen > skb->len - off - sizeof(*ip6))
			plen = skb->len - off - sizeof(*ip6);
		nexthdr = ip6->nexthdr;
		off += sizeof(*ip6);
		/*
		 * Walk a bounded chain of extension headers (the verifier needs a fixed bound), each
		 * iteration without a branch on the header's kind: see EQ above.
		 */
#pragma unroll
		for (int i = 0; i < IPV6_EXT_MAX; i++) {
			__u32 frag = EQ(nexthdr, IPPROTO_FRAGMENT), ah = EQ(nexthdr, IPPROTO_AH);
			__u32 walk = EQ(nexthdr, IPPROTO_HOPOPTS) | EQ(nexthdr, IPPROTO_ROUTING) | EQ(nexthdr, IPPROTO_DSTOPTS) | frag | ah;
			__u32 len, fo;
			__u8 *ext;

			if (!walk)
				break;
			if (!hdr_off(&off, eth))
				return -1;
			/* checked and read through one pointer, as 6.1's verifier needs */
			ext = data + off;
			if ((void *)(ext + 8) > end)
				return -1;
			/* 8 for a fragment header, (n + 2) * 4 for AH, (n + 1) * 8 for the others */
			len = SEL(frag, 8, SEL(ah, ((__u32)ext[1] + 2) << 2, ((__u32)ext[1] + 1) << 3));
			fo = *(__be16 *)(ext + 2);
			/* offset != 0: no L4 header here; offset 0 with more to come: it may be cut */
			later_frag |= frag & NZ(fo & bpf_htons(0xfff8));
			first_frag |= frag & !NZ(fo & bpf_htons(0xfff8)) & NZ(fo & bpf_htons(1));
			if (len > plen)
				return -1;
			plen -= len;
			nexthdr = ext[0];
			off += len;
			if (later_frag)
				break;
		}
		p->fragment = later_frag;
		p->key.proto = nexthdr;
		if (!hdr_off(&off, eth))
			return -1;
		if (!p->fragment && parse_l4(data, end, off, nexthdr, plen, p, eth) == 0)
			return 0;
		/* as for IPv4: a first fragment too short for its L4 header goes with the others */
		if (!p->fragment && !first_frag)
			return -1;
		p->fragment = true;
		p->l2_l4_hdr = off;
		p->payload = plen;
		return 0;
	}
	return 1;
}

/*
 * true when (addr_a, port_a) sorts after (addr_b, port_b) byte by byte: the order, and so the
 * key, is the same on big- and little-endian routers.
 */
static __always_inline bool key_needs_swap(const struct fw_flow_key *k)
{
	const __u32 *a = (const __u32 *)k->addr_a, *b = (const __u32 *)k->addr_b;

#pragma unroll
	for (int i = 0; i < 4; i++) {
		if (a[i] != b[i])
			return bpf_ntohl(a[i]) > bpf_ntohl(b[i]);
	}
	return bpf_ntohs(k->port_a) > bpf_ntohs(k->port_b);
}

static __always_inline void swap_key(struct fw_flow_key *k)
{
	__u64 *a = (__u64 *)k->addr_a, *b = (__u64 *)k->addr_b, t;
	__be16 pt;

	t = a[0]; a[0] = b[0]; b[0] = t;
	t = a[1]; a[1] = b[1]; b[1] = t;
	pt = k->port_a; k->port_a = k->port_b; k->port_b = pt;
}

/*
 * Histogram bins without branches: (limit - x) >> 63 is 1 exactly when x > limit. A chain of
 * ifs would hand the verifier one path per bin, and the two histograms multiply those paths.
 */
#define ABOVE(x, limit) ((__u64)((__s64)(limit) - (__s64)(x)) >> 63)

static __always_inline __u32 size_bin(__u64 len)
{
	return ABOVE(len, 64) + ABOVE(len, 128) + ABOVE(len, 256) + ABOVE(len, 512) + ABOVE(len, 1024) +
	       ABOVE(len, 1280) + ABOVE(len, 1518);
}

static __always_inline __u32 iat_bin(__u64 ns)
{
	/* gaps beyond 2^62 ns (146 years) do not happen */
	ns &= (1ULL << 62) - 1;
	return ABOVE(ns, 9999) + ABOVE(ns, 99999) + ABOVE(ns, 999999) + ABOVE(ns, 9999999) + ABOVE(ns, 99999999) +
	       ABOVE(ns, 999999999) + ABOVE(ns, 9999999999ULL);
}

/* Returns 1 for payload below the highest sequence number seen: sent again (or late). */
static __always_inline int track_seq(struct fw_dir_stats *d, __u32 seq, __u32 payload)
{
	__u32 end_seq = seq + payload;
	int resent = 0;

	/* the first payload starts the stream: it is in order, and its bytes count */
	if (!d->seq_valid) {
		d->seq_valid = 1;
		d->next_seq = seq;
	}
	/* Serial-number arithmetic: sequence numbers wrap at 2^32. */
	if ((__s32)(seq - d->next_seq) < 0) {
		d->retrans++;
		d->retrans_bytes += payload;
		resent = 1;
	}
	else if ((__s32)(seq - d->next_seq) > 0)
		d->gaps++;
	if ((__s32)(end_seq - d->next_seq) > 0) {
		d->stream_bytes += end_seq - d->next_seq;
		d->next_seq = end_seq;
	}
	return resent;
}

static __always_inline void segment_end(struct fw_flow *f, __u32 k, __u64 now)
{
	f->seg[k & (FW_SEGMENTS - 1)].end_ns = now;
	/* the bound check is the verifier's proof that the index stays in the array */
	if (k < FW_EARLY_SEGMENTS)
		f->early_end_ns[k] = now;
}

static __always_inline void track_segment(struct fw_flow *f, __u32 dir, __u32 payload, __u64 now, __u32 segs,
					  int resent)
{
	struct fw_segment *s;
	__u32 cur;

	if (!payload)
		return;
	cur = f->seg_count - 1;
	if (dir == FW_DIR_UP) {
		/* A run of request packets with no response yet is one request. */
		if (f->seg_count) {
			s = &f->seg[cur & (FW_SEGMENTS - 1)];
			if (!s->down_bytes) {
				s->up_bytes += payload;
				segment_end(f, cur, now);
				return;
			}
		}
		/* A request sent again while its response arrives (its ACK was lost) is not a new one. */
		if (resent)
			return;
		cur = f->seg_count;
		s = &f->seg[cur & (FW_SEGMENTS - 1)];
		s->start_ns = now;
		s->up_bytes = payload;
		s->down_bytes = 0;
		s->down_packets = 0;
		segment_end(f, cur, now);
		f->seg_count++;
		return;
	}
	if (!f->seg_count)
		return; /* response bytes before any request seen (flow began before we did) */
	s = &f->seg[cur & (FW_SEGMENTS - 1)];
	s->down_bytes += payload;
	s->down_packets += segs;
	segment_end(f, cur, now);
}

/* What one packet adds to a flow record: a parsed packet, or a parked one (struct fw_pending). */
struct acct {
	__u64 ns;
	__u64 wire;
	__u32 segs;
	__u32 payload;
	__u32 seq;
	__u8 tcp_flags;
	bool tcp; /* a TCP header was read (not a later fragment) */
};

/* Adds a packet to direction `dir` of f, in arrival order. */
static __always_inline void account(struct fw_flow *f, __u32 dir, const struct acct *a)
{
	struct fw_dir_stats *d = &f->dir[dir & 1];
	int resent = 0;

	if (d->packets)
		d->iat_hist[iat_bin(a->ns - d->last_ns) & (FW_IAT_BINS - 1)]++;
	else
		d->first_ns = a->ns;
	d->last_ns = a->ns;
	d->packets += a->segs;
	d->bytes += a->wire;
	d->payload_bytes += a->payload;
	/* 32-bit division: the ARM32 JIT in 6.1 has no 64-bit divide and refuses the program. */
	d->size_hist[size_bin((__u32)a->wire / a->segs) & (FW_SIZE_BINS - 1)] += a->segs;
	if (a->tcp) {
		d->tcp_flags |= a->tcp_flags;
		if (a->payload)
			resent = track_seq(d, a->seq, a->payload);
	}
	track_segment(f, dir & 1, a->payload, a->ns, a->segs, resent);
}

/*
 * A parked packet into the all-zero record just inserted for it: what account() does to a flow's
 * first packet, without account()'s branches on earlier packets. A second inlined account()
 * with a direction known only at run time doubled the verifier's walk.
 */
static __always_inline void account_first(struct fw_flow *f, const struct fw_pending *q)
{
	struct fw_dir_stats *d = &f->dir[q->dir & 1];
	__u32 segs = q->segs ? q->segs : 1;

	d->first_ns = q->ns;
	d->last_ns = q->ns;
	d->packets = segs;
	d->bytes = q->wire;
	d->payload_bytes = q->payload;
	d->size_hist[size_bin(q->wire / segs) & (FW_SIZE_BINS - 1)] = segs;
	if (!(q->flags & FW_PENDING_TCP))
		goto segment;
	d->tcp_flags = q->tcp_flags;
	if (q->payload) {
		/* track_seq() on a stream not started: in order, every byte new */
		d->seq_valid = 1;
		d->next_seq = q->seq + q->payload;
		d->stream_bytes = q->payload;
	}
segment:
	/* track_segment(): a request starts the first segment, a response before one starts none */
	if (q->payload && !(q->dir & 1)) {
		f->seg[0].start_ns = q->ns;
		f->seg[0].end_ns = q->ns;
		f->seg[0].up_bytes = q->payload;
		f->early_end_ns[0] = q->ns;
		f->seg_count = 1;
	}
}

/*
 * A parked packet that reaches a record after later packets of its flow (it waited on another
 * CPU than the one that recorded the flow): counted, sized and timed as the flow's first
 * packet if it was, but kept out of the gaps, sequence and segments, which follow arrival order.
 */
static __always_inline void account_late(struct fw_flow *f, const struct fw_pending *q)
{
	struct fw_dir_stats *d = &f->dir[q->dir & 1];
	__u32 segs = q->segs ? q->segs : 1;

	if (!d->packets || q->ns < d->first_ns)
		d->first_ns = q->ns;
	if (!d->packets)
		d->last_ns = q->ns;
	d->packets += segs;
	d->bytes += q->wire;
	d->payload_bytes += q->payload;
	d->size_hist[size_bin(q->wire / segs) & (FW_SIZE_BINS - 1)] += segs;
	if (q->flags & FW_PENDING_TCP)
		d->tcp_flags |= q->tcp_flags;
}

/*
 * The key's ten words folded in one at a time, each multiplied and its high half folded back
 * down before the next: a product's bits depend only on the factors' lower bits, and flows of
 * one host differ only in the upper halves of a port word and an address word, which plain
 * multiplication would leave to cancel. Then mixed (Wellons' lowbias32) for the low bits.
 */
static __always_inline __u32 pending_slot(const struct fw_flow_key *k)
{
	const __u32 *w = (const __u32 *)k;
	__u32 h = 0;

#pragma unroll
	for (int i = 0; i < (int)(sizeof(*k) / 4); i++) {
		h = (h ^ w[i]) * 2654435761u;
		h ^= h >> 15;
	}
	h *= 0x7feb352du;
	h ^= h >> 15;
	h *= 0x846ca68bu;
	h ^= h >> 16;
	return h & (FW_PENDING_SLOTS - 1);
}

static __always_inline bool key_eq(const struct fw_flow_key *x, const struct fw_flow_key *y)
{
	const __u64 *a = (const __u64 *)x, *b = (const __u64 *)y;

	return ((a[0] ^ b[0]) | (a[1] ^ b[1]) | (a[2] ^ b[2]) | (a[3] ^ b[3]) | (a[4] ^ b[4])) == 0;
}

/*
 * Inserts the record for `key` from a parked first packet. NOEXIST: when two CPUs race to
 * create a flow, one wins. *created tells whether this call did.
 */
static __always_inline struct fw_flow *record(const struct fw_flow_key *key, const struct fw_pending *q, bool *created)
{
	__u32 zero = 0, hook = q->hook & 1;
	struct fw_flow *init = bpf_map_lookup_elem(&fw_zero, &zero), *f;
	/* counted at the hook of the flow's first packet */
	struct fw_hook_counters *c = bpf_map_lookup_elem(&fw_counters, &hook);

	if (!init || !c)
		return NULL;
	*created = bpf_map_update_elem(&fw_flows, key, init, BPF_NOEXIST) == 0;
	f = bpf_map_lookup_elem(&fw_flows, key);
	if (!f)
		return NULL;
	if (*created) {
		c->flows_created++;
		f->client_is_b = !!(q->flags & FW_PENDING_CLIENT_B);
		f->ifindex = q->ifindex;
#ifdef FW_FOREST
		f->window_end_ns = q->ns + fw_window_ns;
#endif
	}
	return f;
}

#ifdef FW_FOREST
#include "fw_window.bpf.h"
#endif

static __always_inline int handle(struct __sk_buff *skb, const __u32 hook, const __u32 dir, const bool eth)
{
	struct fw_hook_counters *c = bpf_map_lookup_elem(&fw_counters, &hook);
	struct pkt p = {};
	__u16 l3proto = 0;
	__u32 segs = skb->gso_segs > 1 ? skb->gso_segs : 1;
	__u64 wire = skb->len;
	__u32 ifindex = skb->ifindex;
	struct fw_flow *f;
	struct acct a;
	int r;

	if (!c)
		return TC_ACT_OK;
	r = parse(skb, &p, &l3proto, eth);
	/* Each extra GSO segment repeats the headers on the wire. */
	if (segs > 1 && r == 0)
		wire += (__u64)(segs - 1) * p.l2_l4_hdr;
	c->packets += segs;
	c->bytes += wire;
	if (r < 0) {
		c->truncated++;
		return TC_ACT_OK;
	}
	if (r > 0) {
		c->non_ip++;
		return TC_ACT_OK;
	}
	if (p.key.family == 4)
		c->ipv4 += segs;
	else
		c->ipv6 += segs;
	if (p.fragment)
		c->fragments++;

	bool swapped = key_needs_swap(&p.key);
	if (swapped)
		swap_key(&p.key);
	a.ns = bpf_ktime_get_ns();
	a.wire = wire;
	a.segs = segs;
	a.payload = p.payload;
	a.seq = p.seq;
	a.tcp_flags = p.tcp_flags;
	a.tcp = p.key.proto == IPPROTO_TCP && !p.fragment;
	f = bpf_map_lookup_elem(&fw_flows, &p.key);
	if (!f) {
		__u32 slot = pending_slot(&p.key);
		struct fw_pending *q = bpf_map_lookup_elem(&fw_pending, &slot);
		bool created;

		if (!q)
			return TC_ACT_OK;
		if (!q->ns || !key_eq(&q->key, &p.key)) {
			/* The flow's first packet: park it, in place of whatever waited in the slot. */
			if (q->ns) {
				c->displaced += q->segs;
				c->displaced_bytes += q->wire;
			}
			__builtin_memcpy(&q->key, &p.key, sizeof(p.key));
			q->ns = a.ns;
			q->wire = (__u32)wire;
			q->payload = p.payload;
			q->seq = p.seq;
			q->segs = segs;
			q->ifindex = ifindex;
			q->tcp_flags = p.tcp_flags;
			q->dir = dir;
			q->hook = hook;
			/* The sender of an upstream packet is the client: a before the swap. */
			q->flags = (a.tcp ? FW_PENDING_TCP : 0) | ((dir == FW_DIR_UP) == swapped ? FW_PENDING_CLIENT_B : 0);
			return TC_ACT_OK;
		}
		/* Its second packet on this CPU: record the flow, its first packet, then this one. */
		f = record(&p.key, q, &created);
		if (!f) {
			c->flow_failed += 2;
			q->ns = 0;
			return TC_ACT_OK;
		}
		if (created) {
			account_first(f, q);
		} else {
			/* another CPU recorded the flow in the meantime: its packets went in first */
			c->displaced += q->segs;
			c->displaced_bytes += q->wire;
		}
		q->ns = 0;
	}
	account(f, dir, &a);
#ifdef FW_FOREST
	/* the first packet at or after the window's end closes it and counts in it */
	if (a.ns >= f->window_end_ns)
		window_close(skb, &p.key, f, a.ns);
#endif
	return TC_ACT_OK;
}

/*
 * One program per (hook, direction, link type): which way is upstream is decided when the
 * loader picks the program for an interface (LAN ports: ingress is upstream; WAN ports: egress
 * is), and so is whether packets start with an Ethernet header (`_ip`: L3 devices, such as
 * pppoe-wan or a WireGuard or LTE WAN). No packet pays for a configuration lookup, and the
 * loader loads only the variants it attaches.
 */
#define FW_PROG(name, hook, dir, eth)                                                              \
	SEC("tc") int name(struct __sk_buff *skb)                                                  \
	{                                                                                          \
		return handle(skb, hook, dir, eth);                                                \
	}

FW_PROG(fw_lan_ingress, FW_HOOK_INGRESS, FW_DIR_UP, true)
FW_PROG(fw_lan_egress, FW_HOOK_EGRESS, FW_DIR_DOWN, true)
FW_PROG(fw_wan_ingress, FW_HOOK_INGRESS, FW_DIR_DOWN, true)
FW_PROG(fw_wan_egress, FW_HOOK_EGRESS, FW_DIR_UP, true)
FW_PROG(fw_lan_ingress_ip, FW_HOOK_INGRESS, FW_DIR_UP, false)
FW_PROG(fw_lan_egress_ip, FW_HOOK_EGRESS, FW_DIR_DOWN, false)
FW_PROG(fw_wan_ingress_ip, FW_HOOK_INGRESS, FW_DIR_DOWN, false)
FW_PROG(fw_wan_egress_ip, FW_HOOK_EGRESS, FW_DIR_UP, false)

/*
 * Records the flow parked in this CPU's pending slot number data[0] | data[1] << 8, if
 * any: run through BPF_PROG_TEST_RUN on each CPU by whoever reads the table and wants every
 * flow in it, one-packet flows too (the test harness; the runner does not). Returns 1 when the
 * slot held a flow.
 */
SEC("tc")
int fw_flush(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct fw_hook_counters *c;
	struct fw_pending *q;
	struct fw_flow *f;
	__u32 slot, hook;
	bool created;

	/* bytes, not a 2-byte load: MIPS's verifier takes the packet to start 2 bytes off a word */
	if (data + 2 > end)
		return TC_ACT_OK;
	slot = (((__u8 *)data)[0] | (__u32)((__u8 *)data)[1] << 8) & (FW_PENDING_SLOTS - 1);
	q = bpf_map_lookup_elem(&fw_pending, &slot);
	if (!q || !q->ns)
		return TC_ACT_OK;
	hook = q->hook & 1;
	c = bpf_map_lookup_elem(&fw_counters, &hook);
	if (!c)
		return TC_ACT_OK;
	f = bpf_map_lookup_elem(&fw_flows, &q->key);
	if (!f) {
		f = record(&q->key, q, &created);
		if (!f) {
			c->flow_failed++;
			q->ns = 0;
			return 1;
		}
		if (created) {
			account_first(f, q);
		} else {
			account_late(f, q);
		}
	} else {
		account_late(f, q);
	}
	q->ns = 0;
	return 1;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
