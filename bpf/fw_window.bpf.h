/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The in-kernel model, part of fw_flows.bpf.c when it is built with -DFW_FOREST: a flow's
 * window ends with its first packet at or after fw_flow.window_end_ns, which counts in it. That
 * packet's program tail-calls fw_window_end, which computes the window's inputs (struct
 * fw_forest_scratch.in, the arithmetic of models/kernel_forest.py's kfeatures()), evaluates
 * the forest and stores the answer in fw_windows.
 *
 * Why these shapes: no timer, because a bpf_timer callback is a BPF-to-BPF call, which the
 * ARM32 JIT in 6.1 does not take (so a flow that falls silent has its last window answered
 * when, if, it sends again). A tail call, not inlined code: the verifier would walk the window's
 * thousands of instructions once for every way through the parser and account() (400,000
 * instructions per program instead of 16,000); a tail-called program is verified once.
 *
 * Two CPUs can close the same window at once (one per direction): the second then answers a
 * window of the packets between the two, and the flow's windows are one more. No atomics here
 * (ARM32), so that stays possible; it needs both directions' packets within a few microseconds
 * of the window's end.
 */

#define CAP24 0xffffffu /* every input is exact in float32, as the forest was trained */

/*
 * The forest as data the program reads (.data), not constants: the verifier reads a read-only
 * map's values, would follow each tree's nodes as known numbers, and then walks every path to
 * every leaf (over its limit of a million instructions for 20 trees). Nothing writes them.
 */
struct fw_tree_node fw_forest_nodes[FW_FOREST_NODES] = { FW_FOREST_NODE_LIST };
__u16 fw_forest_leaves[FW_FOREST_LEAVES][FW_CLASSES] = { FW_FOREST_LEAF_LIST };
__u16 fw_forest_roots[FW_FOREST_TREES] = { FW_FOREST_ROOTS };
static const __u8 fw_forest_sel[FW_FOREST_SEL] = { FW_FOREST_SEL_LIST };

_Static_assert(FW_FOREST_SEL <= FW_FOREST_SEL_MAX, "the model selects more inputs than a flow keeps");
_Static_assert(FW_FOREST_HISTORY == FW_FOREST_KEEP, "the model's windows and a flow's kept inputs");
_Static_assert(FW_FOREST_INPUTS <= 64, "fw_forest_scratch.row");

/*
 * The inputs are computed without branches. A branch whose sides leave different values gives
 * the verifier two paths, and these values meet later in more branches: the ring's eight
 * segments alone made some 80 paths through everything after them (106,735 processed
 * instructions for fw_window_end, 1.5 s of load on the ARM32 router). opaque() hides a value
 * from clang, which would otherwise turn these masks back into compares and branches.
 */
static __always_inline __u64 opaque(__u64 x)
{
	asm volatile("" : "+r"(x));
	return x;
}

/* 1 when a < b, else 0; a and b below 2^63 */
static __always_inline __u64 lt(__u64 a, __u64 b)
{
	return opaque(opaque(a - b) >> 63);
}

/* a when c is 1, b when c is 0 */
static __always_inline __u64 pick(__u64 c, __u64 a, __u64 b)
{
	return b ^ ((a ^ b) & -c);
}

/*
 * The same in 32 bits, for the forest's walk: on a 32-bit JIT (ARMv7, MIPS32) every 64-bit
 * operation is two or more native instructions, and the walk is most of a prediction.
 * lt32() needs a and b below 2^31; the forest's inputs and thresholds are below 2^24.
 */
static __always_inline __u32 opaque32(__u32 x)
{
	/* "w": a 32-bit subregister, so clang keeps the whole walk in 32-bit instructions */
	asm volatile("" : "+w"(x));
	return x;
}

static __always_inline __u32 lt32(__u32 a, __u32 b)
{
	return opaque32(opaque32(a - b) >> 31);
}

static __always_inline __u32 pick32(__u32 c, __u32 a, __u32 b)
{
	return b ^ ((a ^ b) & -c);
}

static __always_inline __u64 min_of(__u64 v, __u64 cap)
{
	return pick(lt(cap, v), cap, v);
}

static __always_inline __u32 cap24(__u64 v)
{
	return (__u32)min_of(v, CAP24);
}

static __always_inline __u32 cap32(__u64 v)
{
	return (__u32)min_of(v, 0xffffffffULL);
}

/* bytes in units of 16 */
static __always_inline __u32 q16(__u64 v)
{
	return cap24(v >> 4);
}

/* floor(ns / 1e6) with a 32-bit division: floor(floor(ns / 64) / 15625); up to 274 s */
static __always_inline __u32 ms_of_ns(__u64 ns)
{
	return cap32(ns >> 6) / 15625;
}

/* a / b for b >= 1, b = 0 read as 1 */
static __always_inline __u32 ratio(__u32 a, __u32 b)
{
	return a / (__u32)(b | lt(b, 1));
}

static __always_inline void dir_inputs(__u32 *in, const struct fw_dir_stats *x, const struct fw_window_base *b,
				       __u64 tcp)
{
	__u64 packets = x->packets - b->packets, bytes = x->bytes - b->bytes;
	__u64 payload = x->payload_bytes - b->payload_bytes;

	in[0] = cap24(packets);
	in[1] = q16(bytes);
	in[2] = q16(payload);
	/* 0 without packets (then there are no bytes either) */
	in[3] = cap24(ratio(cap32(bytes), cap32(packets)));
	in[4] = cap24(x->retrans - b->retrans);
	in[5] = cap24(x->gaps - b->gaps);
	in[6] = q16(x->retrans_bytes - b->retrans_bytes);
	/* the application's bytes: TCP's sequence space, else the payload */
	in[7] = (__u32)pick(tcp, q16((__u32)(x->stream_bytes - b->stream_bytes)), in[2]);
#pragma unroll
	for (int i = 0; i < FW_SIZE_BINS; i++)
		in[8 + i] = cap24(x->size_hist[i] - b->size_hist[i]);
#pragma unroll
	for (int i = 0; i < FW_IAT_BINS; i++)
		in[16 + i] = cap24(x->iat_hist[i] - b->iat_hist[i]);
}

/* The window's inputs at its last packet (time `end`), from the record and the counters when it began. */
static __always_inline void window_inputs(__u32 *in, const struct fw_flow *f, const struct fw_window *w, __u64 end,
					  bool tcp)
{
	__u64 n = f->seg_count, k = min_of((__u32)(f->seg_count - w->seg_count), FW_SEGMENTS);
	__u64 a = f->dir[0].first_ns, b = f->dir[1].first_ns, down = 0, ns = 0, first, known;

	/* the flow's first packet: the earlier direction's, or the one that has a packet */
	first = pick(lt(a, 1) | (lt(0, b) & lt(b, a)), b, a);
	known = -lt(0, first);
	dir_inputs(in + FW_KF_upPackets, &f->dir[FW_DIR_UP], &w->base[FW_DIR_UP], opaque(tcp));
	dir_inputs(in + FW_KF_downPackets, &f->dir[FW_DIR_DOWN], &w->base[FW_DIR_DOWN], opaque(tcp));
	in[FW_KF_segStarted] = cap24((__u32)(f->seg_count - w->seg_count));
	/* the ring, newest first: the window's own segments are the first k, kept ones the first n */
#pragma unroll
	for (__u32 i = 0; i < FW_SEGMENTS; i++) {
		const struct fw_segment *s = &f->seg[(n - 1 - i) & (FW_SEGMENTS - 1)];
		__u64 mine = -lt(i, k), kept = -lt(i, n);

		down += s->down_bytes & mine;
		ns += (s->end_ns - s->start_ns) & mine;
		in[FW_KF_segBytes0 + i] = q16(s->down_bytes & kept);
		in[FW_KF_segAgoMs0 + i] = ms_of_ns((end - s->start_ns) & kept & -lt(s->start_ns, end));
	}
	/* means over the window's segments (k = 0: no segment, sums of 0) */
	in[FW_KF_segMeanDown] = q16(ratio(cap32(down), (__u32)k));
	in[FW_KF_segMeanMs] = ratio(ms_of_ns(ns), (__u32)k);
	{
		const struct fw_segment *s = &f->seg[(n - 1) & (FW_SEGMENTS - 1)];
		__u64 any = -lt(0, n);

		in[FW_KF_segLastDown] = q16(s->down_bytes & any);
		in[FW_KF_segLastMs] = ms_of_ns((s->end_ns - s->start_ns) & any);
	}
	/* deciseconds: floor(floor(ns / 256) / 390625), the first capped to 32 bits (18 min) */
	in[FW_KF_ageDs] = cap32(((end - first) & known & -lt(first, end)) >> 8) / 390625;
#pragma unroll
	for (int i = 0; i < FW_EARLY_SEGMENTS; i++) {
		__u64 e = f->early_end_ns[i];

		in[FW_KF_segEndMs0 + i] = ms_of_ns((e - first) & known & -lt(first, e));
	}
	/* kbit/s from bytes / 16 and ms: x 128; at most 2^24 x 2^7, inside 32 bits */
	in[FW_KF_segKbps] = cap24(ratio(in[FW_KF_segMeanDown] * 128, in[FW_KF_segMeanMs]));
	in[FW_KF_segLastKbps] = cap24(ratio(in[FW_KF_segLastDown] * 128, in[FW_KF_segLastMs]));
	in[FW_KF_bytesPerSeg] = cap24(ratio(in[FW_KF_downStreamBytes], in[FW_KF_segStarted]));
#pragma unroll
	for (int i = 1; i < FW_SEGMENTS; i++) {
		/* the time between two requests, at least 1 ms (an unknown age reads 0) */
		__u64 gap = (__u64)in[FW_KF_segAgoMs0 + i] - in[FW_KF_segAgoMs0 + i - 1];

		in[FW_KF_segRate1 + i - 1] = cap24(ratio(in[FW_KF_segBytes0 + i] * 128, (__u32)pick(opaque(opaque(gap - 1) >> 63), 1, gap)));
	}
}

/*
 * The forest on `row`: the class with the largest sum of leaf probabilities (the first on a
 * tie), and that sum as a mean percentage, as class | pct << 8. The walk is branch-free:
 * a leaf is its own next node, and every tree takes FW_FOREST_DEPTH steps, so the verifier
 * walks each tree once instead of once per path to a leaf.
 */
static __always_inline __u32 forest_eval(const __u32 *row)
{
	__u32 acc[FW_CLASSES] = {}, best = 0, top;

	for (__u32 t = 0; t < FW_FOREST_TREES; t++) {
		/*
		 * Indices masked to 16 bits after each step: the mask gives the 6.1 verifier (the
		 * virtual routers', OpenWrt 24.10's) a bound on the whole register, which a 32-bit
		 * compare alone does not, and it refuses the table's address plus an unbounded value.
		 */
		__u32 n = fw_forest_roots[t] & 0xffff, l;

		for (__u32 d = 0; d < FW_FOREST_DEPTH; d++) {
			const struct fw_tree_node *x;

			/* the verifier's proof that n indexes the table */
			if (n >= FW_FOREST_NODES)
				return 0;
			x = &fw_forest_nodes[n];
			n = pick32(x->leaf, n, pick32(lt32(x->threshold, row[x->input & 63]), x->right, n + 1)) & 0xffff;
		}
		if (n >= FW_FOREST_NODES)
			return 0;
		l = fw_forest_nodes[n].right & 0xffff;
		if (l >= FW_FOREST_LEAVES)
			return 0;
#pragma unroll
		for (int c = 0; c < FW_CLASSES; c++)
			acc[c] += fw_forest_leaves[l][c];
	}
	top = acc[0];
#pragma unroll
	for (int c = 1; c < FW_CLASSES; c++) {
		if (acc[c] > top) {
			best = c;
			top = acc[c];
		}
	}
	return best | (top * 100 / (FW_FOREST_TREES * FW_FOREST_SCALE)) << 8;
}

/* The row: this window's selected inputs, then the kept ones of the two windows before. */
static __always_inline void forest_row(struct fw_forest_scratch *s, const struct fw_window *w)
{
#pragma unroll
	for (int j = 0; j < FW_FOREST_SEL; j++) {
		s->row[j] = s->in[fw_forest_sel[j]];
		s->row[FW_FOREST_SEL + j] = w->keep[0][j];
		s->row[2 * FW_FOREST_SEL + j] = w->keep[1][j];
	}
}

static __always_inline void window_end(struct fw_forest_scratch *s, const struct fw_flow_key *key,
				       const struct fw_flow *f, __u64 now)
{
	__u32 zero = 0, answer;
	struct fw_window *w;
	void *init;

	w = bpf_map_lookup_elem(&fw_windows, key);
	if (!w) {
		/* the flow's first window: its counters began at zero (fw_zero is larger, all zero) */
		init = bpf_map_lookup_elem(&fw_zero, &zero);
		if (!init)
			return;
		bpf_map_update_elem(&fw_windows, key, init, BPF_NOEXIST);
		w = bpf_map_lookup_elem(&fw_windows, key);
		if (!w)
			return;
	}
	window_inputs(s->in, f, w, now, key->proto == IPPROTO_TCP);
	forest_row(s, w);
	answer = forest_eval(s->row);
#pragma unroll
	for (int j = 0; j < FW_FOREST_SEL; j++) {
		w->keep[1][j] = w->keep[0][j];
		w->keep[0][j] = s->row[j];
	}
#pragma unroll
	for (int d = 0; d < 2; d++) {
		const struct fw_dir_stats *x = &f->dir[d];
		struct fw_window_base *b = &w->base[d];

		b->packets = x->packets;
		b->bytes = x->bytes;
		b->payload_bytes = x->payload_bytes;
		b->retrans = x->retrans;
		b->gaps = x->gaps;
		b->retrans_bytes = x->retrans_bytes;
		b->stream_bytes = x->stream_bytes;
		__builtin_memcpy(b->size_hist, x->size_hist, sizeof(b->size_hist));
		__builtin_memcpy(b->iat_hist, x->iat_hist, sizeof(b->iat_hist));
	}
	w->seg_count = f->seg_count;
	w->windows++;
	w->end_ns = now;
	w->resolution = answer & 0xff;
	w->confidence_pct = answer >> 8;
	/* the player starts once its first media segment (the second response) is in */
	if (!w->startup_ms && f->seg_count >= 3)
		w->startup_ms = s->in[FW_KF_segEndMs1];
}

/*
 * The forest alone, for tests and benchmarks through BPF_PROG_TEST_RUN: the packet is a row of
 * FW_FOREST_INPUTS 32-bit inputs in this CPU's byte order; returns class | pct << 8.
 */
SEC("tc")
int fw_forest_eval(struct __sk_buff *skb)
{
	__u32 zero = 0;
	struct fw_forest_scratch *s = bpf_map_lookup_elem(&fw_scratch, &zero);

	if (!s || bpf_skb_load_bytes(skb, 0, s->row, FW_FOREST_INPUTS * 4))
		return 0xffff;
	return forest_eval(s->row);
}

/*
 * In the packet's program, after its packet is counted: starts the next window (right after
 * this one, or from now when the flow sat out a whole window) and hands the closed one to
 * fw_window_end. A tail call does not return; nothing is left to do here.
 */
static __always_inline void window_close(struct __sk_buff *skb, const struct fw_flow_key *key, struct fw_flow *f,
					 __u64 now)
{
	__u64 end = f->window_end_ns;
	__u32 zero = 0;
	struct fw_forest_scratch *s = bpf_map_lookup_elem(&fw_scratch, &zero);

	f->window_end_ns = now < end + fw_window_ns ? end + fw_window_ns : now + fw_window_ns;
	if (!s)
		return;
	__builtin_memcpy(&s->key, key, sizeof(s->key));
	s->now = now;
	bpf_tail_call(skb, &fw_window_prog, 0);
}

SEC("tc")
int fw_window_end(struct __sk_buff *skb)
{
	__u32 zero = 0;
	struct fw_forest_scratch *s = bpf_map_lookup_elem(&fw_scratch, &zero);
	struct fw_flow *f;

	if (!s)
		return TC_ACT_OK;
	f = bpf_map_lookup_elem(&fw_flows, &s->key);
	if (f)
		window_end(s, &s->key, f, s->now);
	return TC_ACT_OK;
}
