/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include "bpf_obj.h"
#include "bpf_sys.h"
#include "flows.h"
#include "fw_forest.h"
#include "model.h"
#include "tc_attach.h"
#include "watch.h"
#include <arpa/inet.h>

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Sleeps until `deadline` (monotonic ns) or a signal. */
static void sleep_until(uint64_t deadline)
{
	while (!stop_signal) {
		uint64_t now = mono_ns();
		struct timespec ts;

		if (now >= deadline)
			return;
		ts.tv_sec = (time_t)((deadline - now) / 1000000000u);
		ts.tv_nsec = (long)((deadline - now) % 1000000000u);
		nanosleep(&ts, NULL); /* EINTR on a signal: the loop re-checks */
	}
}

/* A JSON-lines file that rolls over to FILE.1 when it passes its size cap. */
struct capped_file {
	const char *path;
	FILE *f;
	long max;
};

static int capped_open(struct capped_file *o, const char *path, long max)
{
	o->path = path;
	o->max = max;
	o->f = path[0] ? fopen(path, "a") : NULL;
	return path[0] && !o->f ? -1 : 0;
}

static void capped_write(struct capped_file *o, const char *line)
{
	if (!o->f)
		return;
	fputs(line, o->f);
	fflush(o->f);
	if (ftell(o->f) >= o->max) {
		char old[300];

		fclose(o->f);
		snprintf(old, sizeof(old), "%s.1", o->path);
		rename(o->path, old);
		o->f = fopen(o->path, "w");
	}
}

static void capped_close(struct capped_file *o)
{
	if (o->f)
		fclose(o->f);
	o->f = NULL;
}

struct attachment {
	int ifindex;
	int created_qdisc;
	int attached[2];
	char prog[2][32]; /* ingress, egress */
};

/*
 * Whether an interface's packets start with an Ethernet header at TC or with the IP header, by
 * its link type (ARPHRD_*, linux/if_arp.h). An unknown type is refused rather than guessed:
 * read the wrong way, payload bytes become addresses and ports.
 */
static const struct {
	unsigned short type;
	const char *suffix;
} link_types[] = {
	{ 1, "" },        /* ARPHRD_ETHER: Ethernet, Wi-Fi, bridges, VLANs, veth */
	{ 772, "" },      /* ARPHRD_LOOPBACK: a zeroed Ethernet header */
	{ 65534, "_ip" }, /* ARPHRD_NONE: tun, WireGuard */
	{ 512, "_ip" },   /* ARPHRD_PPP: pppoe-wan, 3G */
	{ 519, "_ip" },   /* ARPHRD_RAWIP: LTE/5G modems (qmi_wwan raw-ip) */
	{ 768, "_ip" },   /* ARPHRD_TUNNEL: ipip */
	{ 769, "_ip" },   /* ARPHRD_TUNNEL6: ip6tnl */
	{ 776, "_ip" },   /* ARPHRD_SIT: 6in4 */
	{ 778, "_ip" },   /* ARPHRD_IPGRE: gre */
};

/* The interface's index and whether its packets start with an Ethernet header (see link_types). */
static const char *link_of(const char *ifname, int *ifindex, char *err, size_t errlen)
{
	struct ifreq ifr;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), r = -1;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (s >= 0 && ioctl(s, SIOCGIFINDEX, &ifr) == 0) {
		*ifindex = ifr.ifr_ifindex;
		r = ioctl(s, SIOCGIFHWADDR, &ifr);
	}
	if (r) {
		snprintf(err, errlen, "%s", strerror(errno));
		if (s >= 0)
			close(s);
		return NULL;
	}
	close(s);
	for (size_t i = 0; i < sizeof(link_types) / sizeof(link_types[0]); i++)
		if (link_types[i].type == ifr.ifr_hwaddr.sa_family)
			return link_types[i].suffix;
	snprintf(err, errlen, "link type %u is neither Ethernet nor IP (tun, PPP, raw IP, tunnels): not watched",
		 (unsigned)ifr.ifr_hwaddr.sa_family);
	return NULL;
}

/*
 * Picks each interface's two programs by role and link type, and its index, before anything is
 * loaded; `names` gets the distinct programs.
 */
static int plan_progs(struct attachment *a, const struct runner_config *c, const char **names, int max)
{
	char err[128];
	int n = 0;

	for (int i = 0; i < c->nifaces; i++) {
		const char *suffix;

		memset(&a[i], 0, sizeof(a[i]));
		suffix = link_of(c->ifaces[i].name, &a[i].ifindex, err, sizeof(err));
		if (!suffix) {
			fprintf(stderr, "fwrunner: interface %s: %s\n", c->ifaces[i].name, err);
			return -1;
		}
		for (int h = 0; h < 2; h++) {
			int seen = 0;

			snprintf(a[i].prog[h], sizeof(a[i].prog[h]), "fw_%s_%s%s", c->ifaces[i].wan ? "wan" : "lan",
				 h ? "egress" : "ingress", suffix);
			for (int k = 0; k < n; k++)
				seen |= !strcmp(names[k], a[i].prog[h]);
			if (!seen && n < max - 1)
				names[n++] = a[i].prog[h];
		}
	}
	names[n] = NULL;
	return 0;
}

static void detach_all(struct attachment *a, int n, const struct runner_config *c)
{
	char err[256];

	for (int i = 0; i < n; i++) {
		for (int h = 0; h < 2; h++)
			if (a[i].attached[h] && tc_filter_detach(a[i].ifindex, (enum tc_hook)h, err, sizeof(err)))
				fprintf(stderr, "fwrunner: %s: %s\n", c->ifaces[i].name, err);
		if (a[i].created_qdisc && tc_clsact_delete(a[i].ifindex, err, sizeof(err)))
			fprintf(stderr, "fwrunner: %s: %s\n", c->ifaces[i].name, err);
	}
}

static int attach_all(struct bpf_obj *o, struct attachment *a, const struct runner_config *c)
{
	char err[256];

	for (int i = 0; i < c->nifaces; i++) {
		if (tc_clsact_ensure(a[i].ifindex, &a[i].created_qdisc, err, sizeof(err))) {
			fprintf(stderr, "fwrunner: %s: %s\n", c->ifaces[i].name, err);
			return -1;
		}
		for (int h = 0; h < 2; h++) {
			const char *name = a[i].prog[h];

			if (tc_filter_attach(a[i].ifindex, (enum tc_hook)h, bpf_obj_prog_fd(o, name), name, err, sizeof(err))) {
				fprintf(stderr, "fwrunner: %s: %s\n", c->ifaces[i].name, err);
				return -1;
			}
			a[i].attached[h] = 1;
		}
	}
	return 0;
}

/* Hardware flow offloading hides forwarded packets from the CPU and so from TC: say so. */
static void warn_offload(void)
{
	FILE *f = fopen("/etc/config/firewall", "r");
	char line[256];

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (strstr(line, "flow_offloading") && (strstr(line, "'1'") || strstr(line, "\"1\"") || strstr(line, " 1"))) {
			fprintf(stderr, "fwrunner: warning: flow offloading is enabled in /etc/config/firewall; offloaded "
					"flows bypass TC and will be missing or undercounted. Disable flow_offloading and "
					"flow_offloading_hw to measure them.\n");
			printf("{\"warning\":\"flow offloading is enabled: offloaded flows are not seen\"}\n");
			break;
		}
	}
	fclose(f);
}

/* CPUs the kernel may use: a per-CPU map value holds one slot for each (as libbpf counts them). */
static int possible_cpus(void)
{
	FILE *f = fopen("/sys/devices/system/cpu/possible", "r");
	int n = 0, a, b;
	char sep;

	if (!f)
		return 1;
	while (fscanf(f, "%d", &a) == 1) {
		b = a;
		if (fscanf(f, "%c", &sep) == 1 && sep == '-' && fscanf(f, "%d", &b) == 1)
			(void)(fscanf(f, "%c", &sep));
		n += b - a + 1;
		if (sep != ',')
			break;
	}
	fclose(f);
	return n > 0 ? n : 1;
}

/*
 * One line per window after the flows: how many flows were active and in the table, and the
 * hook counters summed over CPUs. It shows a window passed even when no flow was active, and
 * packets the BPF programs saw but could not put in a flow.
 */
static void emit_summary(int counters_fd, uint32_t index, uint32_t active, uint32_t in_table, struct capped_file *out)
{
	static const char *const hooks[FW_HOOK_MAX] = { "ingress", "egress" };
	int ncpu = possible_cpus();
	struct fw_hook_counters *v = calloc((size_t)ncpu, sizeof(*v));
	char line[1024];
	struct timespec wall;
	int n;

	if (!v)
		return;
	clock_gettime(CLOCK_REALTIME, &wall);
	n = snprintf(line, sizeof(line), "{\"window\":%u,\"time\":%lld.%03ld,\"summary\":{\"active\":%u,\"flows\":%u,\"hooks\":{",
		     index, (long long)wall.tv_sec, wall.tv_nsec / 1000000, active, in_table);
	for (uint32_t h = 0; h < FW_HOOK_MAX && n > 0 && (size_t)n < sizeof(line); h++) {
		struct fw_hook_counters t = { 0 };

		if (bpf_map_lookup(counters_fd, &h, v) == 0)
			for (int c = 0; c < ncpu; c++)
				fw_hook_counters_add(&t, &v[c]);
		n += snprintf(line + n, sizeof(line) - (size_t)n,
			      "%s\"%s\":{\"packets\":%llu,\"bytes\":%llu,\"ipv4\":%llu,\"ipv6\":%llu,\"nonIp\":%llu,"
			      "\"fragments\":%llu,\"truncated\":%llu,\"flowsCreated\":%llu,\"flowFailed\":%llu,"
			      "\"displaced\":%llu}",
			      h ? "," : "", hooks[h], (unsigned long long)t.packets, (unsigned long long)t.bytes,
			      (unsigned long long)t.ipv4, (unsigned long long)t.ipv6, (unsigned long long)t.non_ip,
			      (unsigned long long)t.fragments, (unsigned long long)t.truncated,
			      (unsigned long long)t.flows_created, (unsigned long long)t.flow_failed,
			      (unsigned long long)t.displaced);
	}
	free(v);
	if (n > 0 && (size_t)n + 4 < sizeof(line)) {
		strcpy(line + n, "}}}\n");
		fputs(line, stdout);
		fflush(stdout);
		capped_write(out, line);
	}
}

/*
 * The in-kernel model's newest answer for a flow (fw_flows_forest.bpf.o's fw_windows), as
 * `,"kernel":{...}`; empty without one. Its windows are the kernel's: they start at the flow's
 * first packet and end with a packet, so they are not the runner's.
 */
static void kernel_answer(int windows_fd, const struct fw_flow_key *key, char *buf, size_t len)
{
	static const char *const classes[FW_CLASSES] = { "240p", "360p", "480p", "720p", "1080p" };
	struct fw_window w;

	buf[0] = '\0';
	if (windows_fd < 0 || bpf_map_lookup(windows_fd, key, &w) || !w.windows || w.resolution >= FW_CLASSES)
		return;
	snprintf(buf, len, ",\"kernel\":{\"resolution\":\"%s\",\"confidencePct\":%u,\"windows\":%u,\"startupMs\":",
		 classes[w.resolution], w.confidence_pct, w.windows);
	snprintf(buf + strlen(buf), len - strlen(buf), w.startup_ms ? "%u}" : "null}", w.startup_ms);
}

/*
 * One line per active flow. Without a QuickJS model and without --record nothing needs the
 * feature vector, so none is computed: the line carries the flow's integer counts and the
 * in-kernel model's answer, what the maps hold (on a 24Kc without an FPU the features' floating
 * point is most of a window's cost).
 */
static int emit_window(struct model *m, const struct runner_config *c, struct window *w, uint32_t index,
		       double span_s, struct capped_file *out, struct capped_file *rec, int windows_fd)
{
	const int predicts = model_predicts(m), counts_only = !predicts && !rec->f;
	uint64_t now = mono_ns();
	struct timespec wall;
	char client[64], server[64], err[300], head[300], ftxt[2048], kernel[160], *line;
	unsigned int cport, sport;
	size_t cap = 4096;

	line = malloc(cap);
	if (!line)
		return -1;
	/* Unix seconds to the millisecond: ground truth in the lab is lined up against it */
	clock_gettime(CLOCK_REALTIME, &wall);
	for (uint32_t i = 0; i < w->n; i++) {
		const struct flow_window *f = &w->flows[i];
		struct features x;
		char *pred = NULL;
		int n;

		if (counts_only) {
			flow_counts_json(f, ftxt, sizeof(ftxt));
		} else {
			features_compute(f, c->window_s, span_s, now, &x);
			if (features_to_json(&x, ftxt, sizeof(ftxt)) < 0)
				snprintf(ftxt, sizeof(ftxt), "null");
		}
		flow_endpoints(&f->now, &f->key, client, server, sizeof(client), &cport, &sport);
		snprintf(head, sizeof(head),
			 "{\"window\":%u,\"time\":%lld.%03ld,\"flow\":{\"id\":%u,\"proto\":%u,\"client\":\"%s\",\"clientPort\":%u,"
			 "\"server\":\"%s\",\"serverPort\":%u,\"vlan\":%u}",
			 index, (long long)wall.tv_sec, wall.tv_nsec / 1000000, f->id, f->key.proto, client, cport, server, sport, f->key.vlan);
		if (rec->f) {
			n = snprintf(line, cap, "%s,\"features\":%s}\n", head, ftxt);
			if (n > 0 && (size_t)n < cap)
				capped_write(rec, line);
		}
		if (predicts) {
			const struct model_flow flow = { .id = f->id, .proto = f->key.proto, .client = client, .client_port = cport,
							 .server = server, .server_port = sport, .vlan = f->key.vlan };

			pred = model_predict(m, &x, &flow, err, sizeof(err));
			if (!pred)
				fprintf(stderr, "fwrunner: model failed on a flow (window %u): %s\n", index, err);
		}
		kernel_answer(windows_fd, &f->key, kernel, sizeof(kernel));
		for (;;) {
			n = counts_only ? snprintf(line, cap, "%s,\"counts\":%s%s}\n", head, ftxt, kernel)
			    : pred      ? snprintf(line, cap, "%s,\"features\":%s,\"prediction\":%s%s}\n", head, ftxt, pred, kernel)
					: snprintf(line, cap, "%s,\"features\":%s,\"prediction\":null,\"error\":\"%s\"%s}\n", head, ftxt,
						   predicts ? "model failed" : "no model", kernel);
			if (n < 0 || (size_t)n < cap)
				break;
			cap = (size_t)n + 1;
			line = realloc(line, cap);
			if (!line)
				return -1;
		}
		fputs(line, stdout);
		capped_write(out, line);
		free(pred);
	}
	fflush(stdout);
	free(line);
	return 0;
}

/* The configured model, or with "none" no predict(). NULL (after saying why) when it cannot open. */
static struct model *open_model(const struct runner_config *c)
{
	const struct run_limits lim = { .memory_bytes = c->mem_limit, .time_ms = c->time_limit_ms };
	char err[600];
	struct model *m = model_open(c->model, &lim, err, sizeof(err));

	if (!m)
		fprintf(stderr, "fwrunner: %s\n", err);
	return m;
}

int watch_run(const struct runner_config *c)
{
	struct attachment att[FW_MAX_IFACES];
	const char *progs[2 * FW_MAX_IFACES + 1];
	struct capped_file out = { 0 }, rec = { 0 };
	struct flow_table prev = { 0 };
	struct model *m;
	struct bpf_obj o = { 0 };
	struct bpf_obj_map *flows, *counters, *windows;
	struct sigaction sa;
	int rc = 1, nattached = 0, jited;
	uint64_t load_ns;
	uint64_t next, last_read, read_at;

	if (c->nifaces == 0) {
		fprintf(stderr, "fwrunner: no interface to watch: give --lan IF and/or --wan IF (or lan/wan in the config)\n");
		return 2;
	}
	if (!(m = open_model(c)))
		return 2;
	if (capped_open(&out, c->output, (long)c->output_max_kb * 1024) ||
	    capped_open(&rec, c->record, 1L << 30)) {
		fprintf(stderr, "fwrunner: cannot open output: %s\n", strerror(errno));
		goto out_model;
	}
	if (plan_progs(att, c, progs, (int)(sizeof(progs) / sizeof(progs[0]))))
		goto out_obj;
	/* loading is verification and JIT: on a slow router the part of start-up the BPF code decides */
	load_ns = mono_ns();
	if (bpf_obj_open(&o, c->object) ||
	    /* the in-kernel model's windows as long as the runner's (only that object has the variable) */
	    (bpf_obj_set_global(&o, "fw_window_ns", &(uint64_t){ (uint64_t)c->window_s * 1000000000u }, 8), 0) ||
	    (c->pin_dir[0] && mkdir(c->pin_dir, 0700) && errno != EEXIST && (snprintf(o.err, sizeof(o.err),
		"pin folder %s: %s", c->pin_dir, strerror(errno)), 1)) ||
	    bpf_obj_load(&o, c->pin_dir[0] ? c->pin_dir : NULL, progs)) {
		fprintf(stderr, "fwrunner: %s\n", o.err);
		goto out_obj;
	}
	load_ns = mono_ns() - load_ns;
	flows = bpf_obj_map(&o, "fw_flows");
	counters = bpf_obj_map(&o, "fw_counters");
	windows = bpf_obj_map(&o, "fw_windows");
	if (!flows) {
		fprintf(stderr, "fwrunner: %s has no fw_flows map\n", c->object);
		goto out_obj;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal; /* no SA_RESTART: a signal cuts the sleep short */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	warn_offload();
	if (attach_all(&o, att, c)) {
		nattached = c->nifaces;
		goto out_detach;
	}
	nattached = c->nifaces;
	jited = bpf_obj_jited(&o);
	fprintf(stderr, "fwrunner: watching %d interface(s), %u s windows, flow table %s, %d of %d programs JIT-compiled\n",
		c->nifaces, c->window_s, flows->reused ? "restored from its pin" : "new", jited, bpf_obj_loaded(&o));
	printf("{\"ready\":true,\"interfaces\":%d,\"window\":%u,\"flowTableRestored\":%s,\"programs\":%d,\"jited\":%d,\"loadMs\":%.1f,"
	       "\"kernelModel\":%s}\n",
	       c->nifaces, c->window_s, flows->reused ? "true" : "false", bpf_obj_loaded(&o), jited, (double)load_ns / 1e6,
	       windows ? "true" : "false");
	fflush(stdout);

	/* Baseline: what the table held before this run is not this window's traffic. */
	{
		struct window w;

		last_read = mono_ns();
		if (window_read(flows->fd, &prev, &w)) {
			fprintf(stderr, "fwrunner: reading flows: %s\n", strerror(errno));
			goto out_detach;
		}
		prev = w.next;
		w.next.slots = NULL;
		window_free(&w);
	}
	next = mono_ns();
	for (uint32_t index = 1; !stop_signal; index++) {
		struct window w;

		next += (uint64_t)c->window_s * 1000000000u;
		sleep_until(next);
		if (stop_signal && index > 1)
			break;
		read_at = mono_ns();
		if (window_read(flows->fd, &prev, &w)) {
			fprintf(stderr, "fwrunner: reading flows: %s\n", strerror(errno));
			goto out_detach;
		}
		emit_window(m, c, &w, index, (double)(read_at - last_read) / 1e9, &out, &rec, windows ? windows->fd : -1);
		last_read = read_at;
		if (counters)
			emit_summary(counters->fd, index, w.n, w.next.count, &out);
		flow_table_free(&prev);
		prev = w.next;
		w.next.slots = NULL;
		window_free(&w);
		if (c->windows && index >= c->windows)
			break;
	}
	rc = 0;
out_detach:
	detach_all(att, nattached, c);
	if (stop_signal)
		fprintf(stderr, "fwrunner: stopped by signal %d; filters removed, flow table kept%s\n", (int)stop_signal,
			c->pin_dir[0] ? " in its pin" : "");
	flow_table_free(&prev);
out_obj:
	bpf_obj_close(&o);
	capped_close(&out);
	capped_close(&rec);
out_model:
	model_close(m);
	return rc;
}

int predict_lines(const struct runner_config *c)
{
	struct model *m = open_model(c);
	char err[600], *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int rc = 0;

	if (!m)
		return 2;
	if (!model_predicts(m)) {
		fprintf(stderr, "fwrunner: predict needs a model: --model none has no predict()\n");
		model_close(m);
		return 2;
	}
	while ((n = getline(&line, &cap, stdin)) > 0) {
		int bad_input;
		char *pred = model_predict_line(m, line, (size_t)n, err, sizeof(err), &bad_input);

		if (bad_input) {
			fprintf(stderr, "fwrunner: parse features failed: %s\n", err);
			rc = 1;
			break;
		}
		if (pred) {
			printf("%s\n", pred);
			free(pred);
		} else {
			printf("{\"error\":\"%s\"}\n", "model failed");
			fprintf(stderr, "fwrunner: %s\n", err);
		}
	}
	free(line);
	model_close(m);
	return rc;
}

/*
 * One window over `n` synthetic flows, without the kernel: features, predict() and output
 * formatting exactly as watch does them (with --model none, the counts-only lines of a router
 * that runs the in-kernel model alone). For instruction counts on every CPU (under qemu-user
 * too, where the bpf syscall is not available).
 */
int bench_window(const struct runner_config *c, uint32_t n)
{
	struct capped_file none = { 0 }, out = { 0 };
	struct window w = { 0 };
	struct model *m;
	unsigned long calls, failures;
	int rc;

	if (!(m = open_model(c)))
		return 2;
	w.flows = calloc(n ? n : 1, sizeof(*w.flows));
	if (!w.flows) {
		model_close(m);
		return 1;
	}
	w.n = n;
	for (uint32_t i = 0; i < n; i++) {
		struct flow_window *f = &w.flows[i];
		struct fw_flow *x = &f->now;

		f->key.family = 4;
		f->key.proto = 6;
		f->key.addr_a[10] = f->key.addr_b[10] = 0xff;
		f->key.addr_a[11] = f->key.addr_b[11] = 0xff;
		f->key.addr_a[12] = 10;
		f->key.addr_a[14] = (uint8_t)(i >> 8);
		f->key.addr_a[15] = (uint8_t)i;
		f->key.addr_b[12] = 192;
		f->key.addr_b[13] = 168;
		f->key.addr_b[15] = (uint8_t)(1 + i % 16); /* 16 clients share the flows */
		f->key.port_a = htons(443);
		f->key.port_b = htons((uint16_t)(40000 + i));
		x->client_is_b = 1;
		f->id = i + 1;
		for (int d = 0; d < 2; d++) {
			x->dir[d].packets = 100 + i * (d ? 30 : 3);
			x->dir[d].bytes = x->dir[d].packets * (d ? 1400 : 66);
			x->dir[d].payload_bytes = x->dir[d].packets * (d ? 1348 : 12);
			x->dir[d].first_ns = 1000000000ull;
			x->dir[d].last_ns = 9000000000ull;
			for (int b = 0; b < FW_SIZE_BINS; b++)
				x->dir[d].size_hist[b] = (uint32_t)((i + b) % 7);
			for (int b = 0; b < FW_IAT_BINS; b++)
				x->dir[d].iat_hist[b] = (uint32_t)((i * 3 + b) % 11);
		}
		x->seg_count = 1 + i % 5;
		for (uint32_t k = 0; k < x->seg_count; k++) {
			x->seg[k].start_ns = 2000000000ull + k * 1000000000ull;
			x->seg[k].end_ns = x->seg[k].start_ns + 300000000ull;
			x->seg[k].up_bytes = 400;
			x->seg[k].down_bytes = 1000000 + i;
			x->seg[k].down_packets = 700;
		}
		f->parallel = n / 16 + 1;
	}
	if (capped_open(&out, c->output, (long)c->output_max_kb * 1024)) {
		fprintf(stderr, "fwrunner: cannot open output %s: %s\n", c->output, strerror(errno));
		free(w.flows);
		model_close(m);
		return 1;
	}
	/* the window alone, from features to output: on a guest under -icount, its instructions */
	uint64_t t = mono_ns();
	rc = emit_window(m, c, &w, 1, c->window_s, &out, &none, -1);
	t = mono_ns() - t;
	capped_close(&out);
	model_counts(m, &calls, &failures);
	fprintf(stderr, "fwrunner: bench window of %u flows: %lu predictions, %lu failed, %llu ns\n", n, calls, failures,
		(unsigned long long)t);
	free(w.flows);
	model_close(m);
	return rc ? 1 : 0;
}
