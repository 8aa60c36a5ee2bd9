/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bpf_sys.h"
#include "flows.h"

static uint32_t hash_bytes(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint32_t h = 2166136261u; /* FNV-1a */

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 16777619u;
	return h;
}

static struct flow_snap *table_slot(const struct flow_table *t, const struct fw_flow_key *k, int insert)
{
	if (!t->cap)
		return NULL;
	for (uint32_t i = hash_bytes(k, sizeof(*k)) & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
		struct flow_snap *s = &t->slots[i];

		if (!s->used)
			return insert ? s : NULL;
		if (!memcmp(&s->key, k, sizeof(*k)))
			return s;
	}
}

static int table_reserve(struct flow_table *t, uint32_t n)
{
	uint32_t cap = 64;

	while (cap < n * 2) /* load factor at most 1/2: probes stay short */
		cap <<= 1;
	t->slots = calloc(cap, sizeof(*t->slots));
	if (!t->slots)
		return -1;
	t->cap = cap;
	t->count = 0;
	return 0;
}

void flow_table_free(struct flow_table *t)
{
	free(t->slots);
	memset(t, 0, sizeof(*t));
}

void window_free(struct window *w)
{
	free(w->flows);
	flow_table_free(&w->next);
	memset(w, 0, sizeof(*w));
}

static void snap_of(struct flow_snap *s, const struct fw_flow_key *k, const struct fw_flow *f)
{
	s->used = 1;
	s->key = *k;
	s->seg_count = f->seg_count;
	for (int d = 0; d < 2; d++) {
		const struct fw_dir_stats *x = &f->dir[d];

		s->d[d].packets = x->packets;
		s->d[d].bytes = x->bytes;
		s->d[d].payload = x->payload_bytes;
		memcpy(s->d[d].size_hist, x->size_hist, sizeof(x->size_hist));
		memcpy(s->d[d].iat_hist, x->iat_hist, sizeof(x->iat_hist));
		s->d[d].retrans = x->retrans;
		s->d[d].retrans_bytes = x->retrans_bytes;
		s->d[d].stream_bytes = x->stream_bytes;
		s->d[d].gaps = x->gaps;
	}
}

static const uint8_t *client_addr(const struct flow_window *f)
{
	return f->now.client_is_b ? f->key.addr_b : f->key.addr_a;
}

/* Counts active flows per client address with a small open-addressing table. */
static int count_parallel(struct window *w)
{
	uint32_t cap = 64;
	struct { const uint8_t *addr; uint32_t n; } *t;

	while (cap < w->n * 2)
		cap <<= 1;
	t = calloc(cap, sizeof(*t));
	if (!t)
		return -1;
	for (int pass = 0; pass < 2; pass++) {
		for (uint32_t i = 0; i < w->n; i++) {
			const uint8_t *a = client_addr(&w->flows[i]);
			uint32_t j = hash_bytes(a, 16) & (cap - 1);

			while (t[j].addr && memcmp(t[j].addr, a, 16))
				j = (j + 1) & (cap - 1);
			if (!pass) {
				t[j].addr = a;
				t[j].n++;
			} else {
				w->flows[i].parallel = t[j].n;
			}
		}
	}
	free(t);
	return 0;
}

int window_read(int map_fd, const struct flow_table *prev, struct window *w)
{
	struct fw_flow_key key, next;
	struct fw_flow flow;
	void *cursor = NULL;
	uint32_t seen = 0;
	int rc;

	memset(w, 0, sizeof(*w));
	/* The map's own bound (LRU) keeps this loop finite; size the table for it as flows arrive. */
	if (table_reserve(&w->next, prev->count + 64))
		return -1;
	w->next.last_id = prev->last_id;
	while ((rc = bpf_map_next_key(map_fd, cursor, &next)) == 0) {
		struct flow_snap *s;
		const struct flow_snap *p;
		uint64_t pk_now, pk_prev;

		key = next;
		cursor = &key;
		if (bpf_map_lookup(map_fd, &key, &flow))
			continue; /* evicted between the two calls */
		if (++seen * 2 > w->next.cap) {
			/* grow: rehash what is there */
			struct flow_table old = w->next;

			if (table_reserve(&w->next, seen * 2))
				return -1;
			for (uint32_t i = 0; i < old.cap; i++)
				if (old.slots[i].used)
					*table_slot(&w->next, &old.slots[i].key, 1) = old.slots[i];
			w->next.count = old.count;
			flow_table_free(&old);
		}
		s = table_slot(&w->next, &key, 1);
		snap_of(s, &key, &flow);
		w->next.count++;
		p = table_slot(prev, &key, 0);
		/* a model keys its per-flow state by this: cheaper than a string of the whole key */
		s->id = p ? p->id : ++w->next.last_id;
		pk_now = flow.dir[0].packets + flow.dir[1].packets;
		pk_prev = p ? p->d[0].packets + p->d[1].packets : 0;
		if (pk_now == pk_prev)
			continue; /* idle this window */
		if (w->n == w->cap) {
			uint32_t cap = w->cap ? w->cap * 2 : 64;
			struct flow_window *nf = realloc(w->flows, cap * sizeof(*nf));

			if (!nf)
				return -1;
			w->flows = nf;
			w->cap = cap;
		}
		w->flows[w->n].key = key;
		w->flows[w->n].now = flow;
		w->flows[w->n].prev = p;
		w->flows[w->n].id = s->id;
		w->n++;
	}
	if (errno != ENOENT)
		return -1; /* the walk ended on an error, not at the end of the map */
	return count_parallel(w);
}

const char *const feature_scalar_names[FEATURE_SCALARS] = {
	"window",      "proto",       "upPackets",   "upBytes",     "upPayload",   "upMbps",
	"upMeanSize",  "upRetrans",   "upGaps",      "downPackets", "downBytes",   "downPayload",
	"downMbps",    "downMeanSize", "downRetrans", "downGaps",    "segStarted",  "segMeanDown",
	"segMeanMs",   "segLastDown", "segLastMs",   "parallelFlows", "ageS",
	"upRetransBytes", "downRetransBytes", "upStreamBytes", "downStreamBytes",
};
const char *const feature_hist_names[FEATURE_HISTS] = { "upSizeHist", "upIatHist", "downSizeHist", "downIatHist",
							"segEndMs",   "segBytes",  "segAgoMs" };
const int feature_hist_len[FEATURE_HISTS] = { FW_SIZE_BINS,      FW_IAT_BINS, FW_SIZE_BINS, FW_IAT_BINS,
					     FW_EARLY_SEGMENTS, FW_SEGMENTS, FW_SEGMENTS };
_Static_assert(FW_SIZE_BINS <= FEATURE_HIST_LEN && FW_IAT_BINS <= FEATURE_HIST_LEN &&
		       FW_EARLY_SEGMENTS <= FEATURE_HIST_LEN && FW_SEGMENTS <= FEATURE_HIST_LEN,
	       "an array longer than FEATURE_HIST_LEN");

static void dir_features(double *v, double (*hs)[FEATURE_HIST_LEN], const struct fw_dir_stats *now,
			 const struct dir_snap *prev, double span_s)
{
	double packets = (double)(now->packets - (prev ? prev->packets : 0));
	double bytes = (double)(now->bytes - (prev ? prev->bytes : 0));

	v[0] = packets;
	v[1] = bytes;
	v[2] = (double)(now->payload_bytes - (prev ? prev->payload : 0));
	v[3] = bytes * 8.0 / 1e6 / span_s;
	v[4] = packets > 0 ? bytes / packets : 0;
	v[5] = (double)(now->retrans - (prev ? prev->retrans : 0));
	v[6] = (double)(now->gaps - (prev ? prev->gaps : 0));
	for (int i = 0; i < FEATURE_HIST_LEN; i++) {
		hs[0][i] = (double)(now->size_hist[i] - (prev ? prev->size_hist[i] : 0));
		hs[1][i] = (double)(now->iat_hist[i] - (prev ? prev->iat_hist[i] : 0));
	}
}

/* The application's bytes in this window: TCP's sequence space (each byte once), else the payload. */
static uint64_t stream_bytes(const struct flow_window *f, int dir)
{
	const struct fw_dir_stats *x = &f->now.dir[dir];
	const struct dir_snap *p = f->prev ? &f->prev->d[dir] : NULL;

	/* the sequence space wraps at 32 bits */
	return f->key.proto == 6 ? (uint32_t)(x->stream_bytes - (p ? p->stream_bytes : 0))
				 : x->payload_bytes - (p ? p->payload : 0);
}

void features_compute(const struct flow_window *f, uint32_t window_s, double span_s, uint64_t now_ns,
		      struct features *o)
{
	const struct fw_flow *x = &f->now;
	uint32_t started = x->seg_count - (f->prev ? f->prev->seg_count : 0);
	uint32_t k = started < FW_SEGMENTS ? started : FW_SEGMENTS;
	double seg_bytes = 0, seg_ms = 0, *v = o->scalar;
	uint64_t first = x->dir[0].first_ns && (!x->dir[1].first_ns || x->dir[0].first_ns < x->dir[1].first_ns)
				 ? x->dir[0].first_ns
				 : x->dir[1].first_ns;

	v[0] = window_s;
	v[1] = f->key.proto;
	dir_features(v + 2, &o->hist[0], &x->dir[FW_DIR_UP], f->prev ? &f->prev->d[FW_DIR_UP] : NULL, span_s);
	dir_features(v + 9, &o->hist[2], &x->dir[FW_DIR_DOWN], f->prev ? &f->prev->d[FW_DIR_DOWN] : NULL, span_s);
	/* Segments that started in this window (the ring holds the last FW_SEGMENTS). */
	for (uint32_t i = 0; i < k; i++) {
		const struct fw_segment *s = &x->seg[(x->seg_count - 1 - i) & (FW_SEGMENTS - 1)];

		seg_bytes += s->down_bytes;
		seg_ms += (double)(s->end_ns - s->start_ns) / 1e6;
	}
	v[16] = started;
	v[17] = k ? seg_bytes / k : 0;
	v[18] = k ? seg_ms / k : 0;
	if (x->seg_count) {
		const struct fw_segment *last = &x->seg[(x->seg_count - 1) & (FW_SEGMENTS - 1)];

		v[19] = last->down_bytes;
		v[20] = (double)(last->end_ns - last->start_ns) / 1e6;
	} else {
		v[19] = v[20] = 0;
	}
	v[21] = f->parallel;
	v[22] = first && now_ns > first ? (double)(now_ns - first) / 1e9 : 0;
	/* payload counted twice (retransmitted): payload minus these is what the application sent */
	v[23] = (double)(x->dir[FW_DIR_UP].retrans_bytes - (f->prev ? f->prev->d[FW_DIR_UP].retrans_bytes : 0));
	v[24] = (double)(x->dir[FW_DIR_DOWN].retrans_bytes - (f->prev ? f->prev->d[FW_DIR_DOWN].retrans_bytes : 0));
	v[25] = (double)stream_bytes(f, FW_DIR_UP);
	v[26] = (double)stream_bytes(f, FW_DIR_DOWN);
	/*
	 * Whole milliseconds from the flow's first packet to the end of each of its first segments (a
	 * startup delay). Times in these arrays are whole numbers: the output prints an integer for a
	 * fraction of what a 17-digit double costs, for every flow and window.
	 */
	for (int i = 0; i < FW_EARLY_SEGMENTS; i++)
		o->hist[4][i] = first && x->early_end_ns[i] > first ? (double)((x->early_end_ns[i] - first) / 1000000) : 0;
	/*
	 * The ring, newest first, whatever window they started in: a video player's segment sizes
	 * (bitrate x duration) and request times (the duration, once its buffer is full).
	 */
	for (uint32_t i = 0; i < FW_SEGMENTS; i++) {
		const struct fw_segment *s = &x->seg[(x->seg_count - 1 - i) & (FW_SEGMENTS - 1)];
		const int kept = i < x->seg_count;

		o->hist[5][i] = kept ? s->down_bytes : 0;
		o->hist[6][i] = kept && now_ns > s->start_ns ? (double)((now_ns - s->start_ns) / 1000000) : 0;
	}
}

/* Integers as integers; other values with 17 significant digits, which read back exactly. */
static int put_num(char *p, size_t len, double v)
{
	if (v == (double)(long long)v && v > -9007199254740992.0 && v < 9007199254740992.0)
		return snprintf(p, len, "%lld", (long long)v);
	return snprintf(p, len, "%.17g", v);
}

int features_to_json(const struct features *x, char *buf, size_t len)
{
	size_t n = 0;
	int w;

#define PUT(...)                                                  \
	do {                                                      \
		w = snprintf(buf + n, n < len ? len - n : 0, __VA_ARGS__); \
		if (w < 0)                                        \
			return -1;                                \
		n += (size_t)w;                                   \
	} while (0)
#define NUM(v)                                                    \
	do {                                                      \
		w = put_num(buf + n, n < len ? len - n : 0, (v)); \
		n += (size_t)w;                                   \
	} while (0)
	PUT("{");
	for (int i = 0; i < FEATURE_SCALARS; i++) {
		PUT("%s\"%s\":", i ? "," : "", feature_scalar_names[i]);
		NUM(x->scalar[i]);
	}
	for (int h = 0; h < FEATURE_HISTS; h++) {
		PUT(",\"%s\":[", feature_hist_names[h]);
		for (int i = 0; i < feature_hist_len[h]; i++) {
			if (i)
				PUT(",");
			NUM(x->hist[h][i]);
		}
		PUT("]");
	}
	PUT("}");
#undef PUT
#undef NUM
	return n < len ? (int)n : -1;
}

void flow_endpoints(const struct fw_flow *f, const struct fw_flow_key *k, char *client, char *server, size_t len,
		    unsigned int *client_port, unsigned int *server_port)
{
	const uint8_t *c = f->client_is_b ? k->addr_b : k->addr_a, *s = f->client_is_b ? k->addr_a : k->addr_b;

	if (k->family == 4) {
		inet_ntop(AF_INET, c + 12, client, (socklen_t)len);
		inet_ntop(AF_INET, s + 12, server, (socklen_t)len);
	} else {
		inet_ntop(AF_INET6, c, client, (socklen_t)len);
		inet_ntop(AF_INET6, s, server, (socklen_t)len);
	}
	*client_port = ntohs(f->client_is_b ? k->port_b : k->port_a);
	*server_port = ntohs(f->client_is_b ? k->port_a : k->port_b);
}

int flow_counts_json(const struct flow_window *f, char *buf, size_t len)
{
	uint64_t v[2][3];

	for (int d = 0; d < 2; d++) {
		const struct fw_dir_stats *x = &f->now.dir[d ? FW_DIR_DOWN : FW_DIR_UP];
		const struct dir_snap *p = f->prev ? &f->prev->d[d ? FW_DIR_DOWN : FW_DIR_UP] : NULL;

		v[d][0] = x->packets - (p ? p->packets : 0);
		v[d][1] = x->bytes - (p ? p->bytes : 0);
		v[d][2] = stream_bytes(f, d ? FW_DIR_DOWN : FW_DIR_UP);
	}
	return snprintf(buf, len,
			"{\"upPackets\":%llu,\"upBytes\":%llu,\"upStreamBytes\":%llu,"
			"\"downPackets\":%llu,\"downBytes\":%llu,\"downStreamBytes\":%llu}",
			(unsigned long long)v[0][0], (unsigned long long)v[0][1], (unsigned long long)v[0][2],
			(unsigned long long)v[1][0], (unsigned long long)v[1][1], (unsigned long long)v[1][2]);
}
