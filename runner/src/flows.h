/* SPDX-License-Identifier: MIT */
/*
 * From the kernel's cumulative flow records to one feature vector per active flow and window:
 * the previous window's counters are kept per flow, and the difference is what the model sees.
 */
#ifndef FW_FLOWS_H
#define FW_FLOWS_H

#include <stdint.h>
#include "fw_maps.h"

struct dir_snap {
	uint64_t packets, bytes, payload;
	uint32_t size_hist[FW_SIZE_BINS], iat_hist[FW_IAT_BINS];
	uint32_t retrans, gaps, retrans_bytes, stream_bytes;
};

struct flow_snap {
	struct fw_flow_key key;
	struct dir_snap d[2];
	uint32_t seg_count;
	uint32_t id;
	uint8_t used;
};

struct flow_table {
	struct flow_snap *slots;
	uint32_t cap; /* power of two */
	uint32_t count;
	uint32_t last_id; /* flow ids given so far: a flow new to the table gets the next one */
};

/* One active flow of a window: what the model and the output need. */
struct flow_window {
	struct fw_flow_key key;
	struct fw_flow now;
	const struct flow_snap *prev; /* NULL: the flow is new this window */
	uint32_t id;                  /* the same for as long as the runner has seen the flow */
	uint32_t parallel;            /* active flows of the same client, this one included */
};

struct window {
	struct flow_window *flows;
	uint32_t n, cap;
	struct flow_table next; /* becomes the previous table for the next window */
};

/*
 * Reads every flow of the map; flows with packets since `prev` become active entries of `w`.
 * Returns 0, or -1 with errno set.
 */
int window_read(int map_fd, const struct flow_table *prev, struct window *w);
/*
 * The feature vector of one flow and window, as numbers in a fixed order (FEATURE_NAMES). The
 * model receives them as an object; the output and --record print the same values, exactly.
 */
#define FEATURE_SCALARS 27
/*
 * arrays: the four histograms (8 bins), segEndMs (FW_EARLY_SEGMENTS), then the ring's last
 * segments newest first: segBytes and segAgoMs (FW_SEGMENTS)
 */
#define FEATURE_HISTS 7
#define FEATURE_HIST_LEN 8 /* the longest array */

struct features {
	double scalar[FEATURE_SCALARS];
	double hist[FEATURE_HISTS][FEATURE_HIST_LEN];
};

/* The names the model and the output give the values, and each array's length. */
extern const char *const feature_scalar_names[FEATURE_SCALARS];
extern const char *const feature_hist_names[FEATURE_HISTS];
extern const int feature_hist_len[FEATURE_HISTS];

/*
 * window_s is the configured length (the model's "window" input); span_s the time this window
 * really covered, from one read of the table to the next, which the rates are taken over: a
 * window cut short by a signal, or read late on a busy router, still reports true rates.
 */
void features_compute(const struct flow_window *f, uint32_t window_s, double span_s, uint64_t now_ns,
		      struct features *out);
/* Writes the JSON object; numbers print so that they read back as the same doubles. */
int features_to_json(const struct features *x, char *buf, size_t len);
/*
 * A flow's window as integers only, for a runner without a QuickJS model: packets, bytes and
 * stream bytes per direction, under the feature vector's names, with no floating point (a MIPS
 * router without an FPU pays a kernel trap for each operation the features take).
 */
int flow_counts_json(const struct flow_window *f, char *buf, size_t len);
void flow_table_free(struct flow_table *t);
void window_free(struct window *w);

/* Client and server ends of a key, as text, for output. */
void flow_endpoints(const struct fw_flow *f, const struct fw_flow_key *k, char *client, char *server, size_t len,
		    unsigned int *client_port, unsigned int *server_port);

#endif
