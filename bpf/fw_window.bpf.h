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

static __always_inline __u32 cap24(__u64 v)
{
	return v > CAP24 ? CAP24 : (__u32)v;
}

/* bytes in units of 16 */
static __always_inline __u32 q16(__u64 v)
{
	return cap24(v >> 4);
}

/* floor(ns / 1e6) with a 32-bit division: floor(floor(ns / 64) / 15625); up to 274 s */
static __always_inline __u32 ms_of_ns(__u64 ns)
{
	ns >>= 6;
	return (ns > 0xffffffffULL ? 0xffffffffu : (__u32)ns) / 15625;
}

/* a / b for b >= 1, b = 0 read as 1 */
static __always_inline __u32 ratio(__u32 a, __u32 b)
{
	return a / (b ? b : 1);
}

static __always_inline void dir_inputs(__u32 *in, const struct fw_dir_stats *x, const struct fw_window_base *b,
				       bool tcp)
{
	__u64 packets = x->packets - b->packets, bytes = x->bytes - b->bytes;
	__u64 payload = x->payload_bytes - b->payload_bytes;

	in[0] = cap24(packets);
	in[1] = q16(bytes);
	in[2] = q16(payload);
	in[3] = packets ? cap24(ratio(bytes > 0xffffffffULL ? 0xffffffffu : (__u32)bytes,
				      packets > 0xffffffffULL ? 0xffffffffu : (__u32)packets))
			: 0;
	in[4] = cap24(x->retrans - b->retrans);
	in[5] = cap24(x->gaps - b->gaps);
	in[6] = q16(x->retrans_bytes - b->retrans_bytes);
	/* the application's bytes: TCP's sequence space, else the payload */
	in[7] = tcp ? q16((__u32)(x->stream_bytes - b->stream_bytes)) : in[2];
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
	__u32 started = f->seg_count - w->seg_count, k = started < FW_SEGMENTS ? started : FW_SEGMENTS;
	__u64 first = f->dir[0].first_ns, down = 0, ns = 0;
	__u32 n = f->seg_count;

	if (!first || (f->dir[1].first_ns && f->dir[1].first_ns < first))
		first = f->dir[1].first_ns;
	dir_inputs(in + FW_KF_upPackets, &f->dir[FW_DIR_UP], &w->base[FW_DIR_UP], tcp);
	dir_inputs(in + FW_KF_downPackets, &f->dir[FW_DIR_DOWN], &w->base[FW_DIR_DOWN], tcp);
	in[FW_KF_segStarted] = cap24(started);
	/* the ring, newest first */
#pragma unroll
	for (__u32 i = 0; i < FW_SEGMENTS; i++) {
		const struct fw_segment *s = &f->seg[(n - 1 - i) & (FW_SEGMENTS - 1)];
		bool kept = i < n;

		if (i < k) {
			down += s->down_bytes;
			ns += s->end_ns - s->start_ns;
		}
		in[FW_KF_segBytes0 + i] = kept ? q16(s->down_bytes) : 0;
		in[FW_KF_segAgoMs0 + i] = kept && end > s->start_ns ? ms_of_ns(end - s->start_ns) : 0;
	}
	in[FW_KF_segMeanDown] = k ? q16(ratio(down > 0xffffffffULL ? 0xffffffffu : (__u32)down, k)) : 0;
	in[FW_KF_segMeanMs] = k ? ratio(ms_of_ns(ns), k) : 0;
	if (n) {
		const struct fw_segment *s = &f->seg[(n - 1) & (FW_SEGMENTS - 1)];

		in[FW_KF_segLastDown] = q16(s->down_bytes);
		in[FW_KF_segLastMs] = ms_of_ns(s->end_ns - s->start_ns);
	} else {
		in[FW_KF_segLastDown] = in[FW_KF_segLastMs] = 0;
	}
	/* deciseconds: floor(floor(ns / 256) / 390625), the first capped to 32 bits (18 min) */
	if (first && end > first) {
		__u64 x = (end - first) >> 8;

		in[FW_KF_ageDs] = (x > 0xffffffffULL ? 0xffffffffu : (__u32)x) / 390625;
	} else {
		in[FW_KF_ageDs] = 0;
	}
#pragma unroll
	for (int i = 0; i < FW_EARLY_SEGMENTS; i++)
		in[FW_KF_segEndMs0 + i] = first && f->early_end_ns[i] > first ? ms_of_ns(f->early_end_ns[i] - first) : 0;
	/* kbit/s from bytes / 16 and ms: x 128; at most 2^24 x 2^7, inside 32 bits */
	in[FW_KF_segKbps] = cap24(ratio(in[FW_KF_segMeanDown] * 128, in[FW_KF_segMeanMs]));
	in[FW_KF_segLastKbps] = cap24(ratio(in[FW_KF_segLastDown] * 128, in[FW_KF_segLastMs]));
	in[FW_KF_bytesPerSeg] = cap24(ratio(in[FW_KF_downStreamBytes], in[FW_KF_segStarted]));
#pragma unroll
	for (int i = 1; i < FW_SEGMENTS; i++) {
		__s32 gap = (__s32)(in[FW_KF_segAgoMs0 + i] - in[FW_KF_segAgoMs0 + i - 1]);

		in[FW_KF_segRate1 + i - 1] = cap24(ratio(in[FW_KF_segBytes0 + i] * 128, gap > 1 ? (__u32)gap : 1));
	}
}

/*
 * The forest on `row`: the class with the largest sum of leaf probabilities (the first on a
 * tie), and that sum as a mean percentage, as class | pct << 8. The walk is branch-free (SEL):
 * a leaf is its own next node, and every tree takes FW_FOREST_DEPTH steps, so the verifier
 * walks each tree once instead of once per path to a leaf.
 */
static __always_inline __u32 forest_eval(const __u32 *row)
{
	__u32 acc[FW_CLASSES] = {}, best = 0, top;

	for (__u32 t = 0; t < FW_FOREST_TREES; t++) {
		/*
		 * 64-bit indices, masked to 16 bits after each step: the 6.1 verifier (the virtual
		 * routers', OpenWrt 24.10's) does not carry a 32-bit compare over to the whole register
		 * and refuses the table's address plus a value with no lower bound.
		 */
		__u64 n = fw_forest_roots[t], l;

		for (__u32 d = 0; d < FW_FOREST_DEPTH; d++) {
			const struct fw_tree_node *x;
			__u64 right;

			/* the verifier's proof that n indexes the table */
			if (n >= FW_FOREST_NODES)
				return 0;
			x = &fw_forest_nodes[n];
			/* (threshold - input) >> 63 is 1 when the input is above it. Both made opaque to
			 * clang, which would turn the difference back into a compare and the 0-or-1 into
			 * a select, each a branch */
			right = (__u64)x->threshold - row[x->input & 63];
			asm volatile("" : "+r"(right));
			right >>= 63;
			asm volatile("" : "+r"(right));
			n = SEL(x->leaf, n, SEL(right, x->right, n + 1)) & 0xffff;
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
