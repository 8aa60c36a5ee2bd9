// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Host-side harness for fw_flows.bpf.o, used by the tests and benchmarks: loads the object
 * with libbpf, feeds packets through BPF_PROG_TEST_RUN or attaches to real interfaces, and
 * prints every map as one JSON document. Links libbpf statically so it runs on any host.
 *
 *   bpf_harness [OPTIONS] OBJ run          packets on stdin: "<in|eg> <ifindex> <gso_segs> <gso_size> <hex>"
 *   bpf_harness [OPTIONS] OBJ attach IF... attach to clsact ingress+egress; dump on stdin EOF or SIGTERM
 *   bpf_harness [OPTIONS] OBJ bench PROG REPEAT  mean ns per run over packets (hex lines) on stdin
 *   bpf_harness OBJ verifier-stats       instructions the verifier processed, per program
 *   bpf_harness OBJ eval PROG            a row of 32-bit inputs per line (host order) as the packet;
 *                                        prints the program's return value per line
 * In `run`, a line "wait MS" sleeps: a flow's window (fw_flows_forest.bpf.o) ends in real time.
 *   bpf_harness OBJ verifier-stats-strict  the same with MIPS's packet alignment rules
 * OPTIONS: --role lan|wan (which programs: fw_lan_* or fw_wan_*; default lan)  --max-flows N
 *          --pending flush|keep (default flush: before a dump, record the flows whose only packet
 *          waits in a pending slot; "parked" in the dump counts them either way)
 *          --window-ms N (the in-kernel model's window, set in the object's .rodata; default 10 s)
 * Any TC object loads (bench:bpf runs other projects' programs beside fw_flows): see open_private().
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <sched.h>
#include <errno.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "fw_maps.h"
#include "fw_forest.h"

#define MAX_PKT 65535
#define ETH_HLEN_MIN 14 /* BPF_PROG_TEST_RUN refuses shorter frames for TC programs */

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

static int die(const char *what, int err)
{
	fprintf(stderr, "bpf_harness: %s: %s\n", what, strerror(err < 0 ? -err : err));
	return 1;
}

static int parse_role(const char *s)
{
	return strcmp(s, "wan") == 0 ? FW_ROLE_WAN : strcmp(s, "lan") == 0 ? FW_ROLE_LAN : -1;
}

static void print_addr(const __u8 *a, int family)
{
	char buf[INET6_ADDRSTRLEN];

	if (family == 4)
		inet_ntop(AF_INET, a + 12, buf, sizeof(buf));
	else
		inet_ntop(AF_INET6, a, buf, sizeof(buf));
	printf("\"%s\"", buf);
}

static void print_u32s(const char *name, const __u32 *v, int n)
{
	printf("\"%s\":[", name);
	for (int i = 0; i < n; i++)
		printf("%s%u", i ? "," : "", v[i]);
	printf("]");
}

static void print_dir(const struct fw_dir_stats *d)
{
	printf("{\"packets\":%llu,\"bytes\":%llu,\"payloadBytes\":%llu,\"firstNs\":%llu,\"lastNs\":%llu,",
	       (unsigned long long)d->packets, (unsigned long long)d->bytes, (unsigned long long)d->payload_bytes,
	       (unsigned long long)d->first_ns, (unsigned long long)d->last_ns);
	print_u32s("sizeHist", d->size_hist, FW_SIZE_BINS);
	printf(",");
	print_u32s("iatHist", d->iat_hist, FW_IAT_BINS);
	printf(",\"tcpFlags\":%u,\"retrans\":%u,\"retransBytes\":%u,\"gaps\":%u,\"streamBytes\":%u}", d->tcp_flags,
	       d->retrans, d->retrans_bytes, d->gaps, d->stream_bytes);
}

static void print_flow(const struct fw_flow_key *k, const struct fw_flow *f)
{
	__u32 n = f->seg_count < FW_SEGMENTS ? f->seg_count : FW_SEGMENTS;

	printf("{\"family\":%u,\"proto\":%u,\"vlan\":%u,\"a\":", k->family, k->proto, k->vlan);
	print_addr(k->addr_a, k->family);
	printf(",\"portA\":%u,\"b\":", ntohs(k->port_a));
	print_addr(k->addr_b, k->family);
	printf(",\"portB\":%u,\"client\":\"%s\",\"ifindex\":%u,\"up\":", ntohs(k->port_b), f->client_is_b ? "b" : "a",
	       f->ifindex);
	print_dir(&f->dir[FW_DIR_UP]);
	printf(",\"down\":");
	print_dir(&f->dir[FW_DIR_DOWN]);
	printf(",\"segCount\":%u,\"segments\":[", f->seg_count);
	/* oldest first */
	for (__u32 i = 0; i < n; i++) {
		const struct fw_segment *s = &f->seg[(f->seg_count - n + i) & (FW_SEGMENTS - 1)];

		printf("%s{\"startNs\":%llu,\"endNs\":%llu,\"upBytes\":%u,\"downBytes\":%u,\"downPackets\":%u}", i ? "," : "",
		       (unsigned long long)s->start_ns, (unsigned long long)s->end_ns, s->up_bytes, s->down_bytes,
		       s->down_packets);
	}
	printf("],\"earlyEndNs\":[");
	for (__u32 i = 0; i < FW_EARLY_SEGMENTS; i++)
		printf("%s%llu", i ? "," : "", (unsigned long long)f->early_end_ns[i]);
	printf("]}");
}

/* Moves this process onto one CPU: BPF_PROG_TEST_RUN runs a program on the caller's CPU. */
static int pin_to(int cpu)
{
	cpu_set_t one;

	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	return sched_setaffinity(0, sizeof(one), &one);
}

/*
 * Records every flow still parked in a pending slot (a flow of one packet so far), so that the
 * dump holds every packet: fw_flush runs on the caller's CPU, so this moves to each CPU in turn.
 */
static int flush_pending(struct bpf_object *obj, int flush, unsigned long *parked)
{
	struct bpf_program *prog = bpf_object__find_program_by_name(obj, "fw_flush");
	int map = bpf_object__find_map_fd_by_name(obj, "fw_pending");
	int ncpu = libbpf_num_possible_cpus(), rc = 0;
	struct fw_pending *v;
	cpu_set_t was;

	if (!prog || map < 0 || ncpu <= 0)
		return die("fw_flush or fw_pending not found", ENOENT);
	v = calloc((size_t)ncpu * FW_PENDING_SLOTS, sizeof(*v));
	if (!v)
		return die("calloc", ENOMEM);
	for (__u32 slot = 0; slot < FW_PENDING_SLOTS; slot++) {
		if (bpf_map_lookup_elem(map, &slot, v + (size_t)slot * ncpu)) {
			rc = die("fw_pending lookup", errno);
			goto out;
		}
	}
	if (sched_getaffinity(0, sizeof(was), &was)) {
		rc = die("sched_getaffinity", errno);
		goto out;
	}
	for (int cpu = 0; cpu < ncpu; cpu++) {
		int pinned = 0;

		for (__u32 slot = 0; slot < FW_PENDING_SLOTS; slot++) {
			unsigned char pkt[ETH_HLEN_MIN] = { 0 };

			if (!v[(size_t)slot * ncpu + cpu].ns)
				continue;
			++*parked;
			if (!flush)
				continue;
			if (!pinned && pin_to(cpu)) {
				rc = die("sched_setaffinity (a parked flow on a CPU this process may not use)", errno);
				goto restore;
			}
			pinned = 1;
			pkt[0] = (unsigned char)slot;
			pkt[1] = (unsigned char)(slot >> 8);
			LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkt, .data_size_in = sizeof(pkt), .repeat = 1);
			if (bpf_prog_test_run_opts(bpf_program__fd(prog), &opts)) {
				rc = die("fw_flush", errno);
				goto restore;
			}
		}
	}
restore:
	sched_setaffinity(0, sizeof(was), &was);
out:
	free(v);
	return rc;
}

static int keep_pending; /* --pending keep: dump without recording the parked flows */
static int run_cpu = -1; /* the CPU `run` pinned itself to */

/* The in-kernel model's answers (fw_flows_forest.bpf.o), and the inputs of the last window `run` closed. */
static int dump_windows(struct bpf_object *obj)
{
	int map = bpf_object__find_map_fd_by_name(obj, "fw_windows");
	int scratch = bpf_object__find_map_fd_by_name(obj, "fw_scratch");
	int ncpu = libbpf_num_possible_cpus(), first = 1;
	struct fw_flow_key key, next;
	struct fw_window w;
	void *prev = NULL;
	__u32 zero = 0;

	if (map < 0)
		return 0;
	printf(",\"windows\":[");
	while (bpf_map_get_next_key(map, prev, &next) == 0) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(map, &key, &w) != 0)
			continue;
		printf("%s{\"proto\":%u,\"a\":", first ? "" : ",", key.proto);
		print_addr(key.addr_a, key.family);
		printf(",\"portA\":%u,\"b\":", ntohs(key.port_a));
		print_addr(key.addr_b, key.family);
		printf(",\"portB\":%u,\"windows\":%u,\"resolution\":%u,\"confidencePct\":%u,\"startupMs\":%u,"
		       "\"endNs\":%llu,",
		       ntohs(key.port_b), w.windows, w.resolution, w.confidence_pct, w.startup_ms,
		       (unsigned long long)w.end_ns);
		print_u32s("keep0", w.keep[0], FW_FOREST_SEL_MAX);
		printf(",");
		print_u32s("keep1", w.keep[1], FW_FOREST_SEL_MAX);
		printf("}");
		first = 0;
	}
	printf("]");
	if (scratch >= 0 && run_cpu >= 0 && run_cpu < ncpu) {
		struct fw_forest_scratch *v = calloc((size_t)ncpu, sizeof(*v));

		if (!v)
			return die("calloc", ENOMEM);
		if (bpf_map_lookup_elem(scratch, &zero, v) == 0) {
			printf(",");
			print_u32s("lastInputs", v[run_cpu].in, FW_KF_COUNT);
		}
		free(v);
	}
	return 0;
}

static int dump(struct bpf_object *obj)
{
	unsigned long parked = 0;
	int flows = bpf_object__find_map_fd_by_name(obj, "fw_flows");
	int counters = bpf_object__find_map_fd_by_name(obj, "fw_counters");
	int ncpu = libbpf_num_possible_cpus();
	struct fw_flow_key key, next;
	struct fw_flow flow;
	struct fw_hook_counters *per_cpu;
	int first = 1, err;
	void *prev = NULL;

	if (flows < 0 || counters < 0 || ncpu <= 0)
		return die("maps not found", ENOENT);
	if (flush_pending(obj, !keep_pending, &parked))
		return 1;
	per_cpu = calloc((size_t)ncpu, sizeof(*per_cpu));
	if (!per_cpu)
		return die("calloc", ENOMEM);
	printf("{\"parked\":%lu,\"counters\":{", parked);
	for (__u32 hook = 0; hook < FW_HOOK_MAX; hook++) {
		struct fw_hook_counters sum = {0};

		err = bpf_map_lookup_elem(counters, &hook, per_cpu);
		if (err)
			return die("counters lookup", errno);
		for (int c = 0; c < ncpu; c++)
			fw_hook_counters_add(&sum, &per_cpu[c]);
		printf("%s\"%s\":{\"packets\":%llu,\"bytes\":%llu,\"ipv4\":%llu,\"ipv6\":%llu,\"nonIp\":%llu,"
		       "\"fragments\":%llu,\"truncated\":%llu,\"flowsCreated\":%llu,\"flowFailed\":%llu,"
		       "\"displaced\":%llu,\"displacedBytes\":%llu}",
		       hook ? "," : "", hook == FW_HOOK_INGRESS ? "ingress" : "egress", (unsigned long long)sum.packets,
		       (unsigned long long)sum.bytes, (unsigned long long)sum.ipv4, (unsigned long long)sum.ipv6,
		       (unsigned long long)sum.non_ip, (unsigned long long)sum.fragments,
		       (unsigned long long)sum.truncated, (unsigned long long)sum.flows_created,
		       (unsigned long long)sum.flow_failed, (unsigned long long)sum.displaced,
		       (unsigned long long)sum.displaced_bytes);
	}
	free(per_cpu);
	printf("}");
	if (dump_windows(obj))
		return 1;
	printf(",\"flows\":[");
	while (bpf_map_get_next_key(flows, prev, &next) == 0) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(flows, &key, &flow) != 0)
			continue; /* evicted between the two calls */
		if (!first)
			printf(",");
		first = 0;
		print_flow(&key, &flow);
	}
	printf("]}\n");
	fflush(stdout);
	return 0;
}

static int hexval(int c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* One packet per line; a line that does not parse is an error (the tests write these). */
static int run_packets(int prog_in, int prog_eg)
{
	static unsigned char pkt[MAX_PKT];
	char *line = NULL, hook[4], *hex;
	size_t cap = 0;
	unsigned long n = 0, rejected = 0, first_errno = 0;
	unsigned long long acc_bytes = 0, acc_segs = 0;

	while (getline(&line, &cap, stdin) > 0) {
		unsigned int ifindex, gso_segs, gso_size;
		int used = 0, len = 0, err;
		struct __sk_buff ctx = {0};

		if (sscanf(line, "wait %u", &ifindex) == 1) {
			usleep(ifindex * 1000u);
			continue;
		}
		if (sscanf(line, "%3s %u %u %u %n", hook, &ifindex, &gso_segs, &gso_size, &used) != 4) {
			fprintf(stderr, "bpf_harness: bad packet line %lu\n", n + 1);
			return 1;
		}
		for (hex = line + used; hexval(hex[0]) >= 0 && hexval(hex[1]) >= 0 && len < MAX_PKT; hex += 2)
			pkt[len++] = (unsigned char)(hexval(hex[0]) << 4 | hexval(hex[1]));
		ctx.ifindex = ifindex;
		ctx.gso_segs = gso_segs;
		ctx.gso_size = gso_size;
		LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkt, .data_size_in = (__u32)len, .ctx_in = &ctx,
			    .ctx_size_in = sizeof(ctx), .repeat = 1);
		err = bpf_prog_test_run_opts(strcmp(hook, "eg") == 0 ? prog_eg : prog_in, &opts);
		if (err) {
			/* the kernel refuses frames shorter than an Ethernet header */
			if (!rejected++)
				first_errno = (unsigned long)errno;
		} else if (opts.retval != 0 /* TC_ACT_OK */) {
			fprintf(stderr, "bpf_harness: packet %lu returned %u, expected TC_ACT_OK\n", n + 1, opts.retval);
			return 1;
		} else {
			acc_bytes += (unsigned long long)len;
			acc_segs += gso_segs > 1 ? gso_segs : 1;
		}
		n++;
	}
	free(line);
	fprintf(stderr, "bpf_harness: ran %lu packets, %lu refused by the kernel before the program (first errno %lu)\n",
		n, rejected, first_errno);
	fprintf(stderr, "bpf_harness: accepted bytes %llu, wire packets %llu\n", acc_bytes, acc_segs);
	return 0;
}

/* `prog` on each row of numbers on stdin, as 32-bit words in this CPU's byte order: its return values. */
static int eval_rows(int prog)
{
	static __u32 row[MAX_PKT / 4];
	char *line = NULL;
	size_t cap = 0;

	while (getline(&line, &cap, stdin) > 0) {
		char *p = line, *q;
		__u32 n = 0;

		memset(row, 0, sizeof(row));
		for (unsigned long v = strtoul(p, &q, 10); q != p && n < MAX_PKT / 4; v = strtoul(p, &q, 10)) {
			row[n++] = (__u32)v;
			p = q;
		}
		LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = row,
			    .data_size_in = n * 4 < ETH_HLEN_MIN ? ETH_HLEN_MIN : n * 4, .repeat = 1);
		if (bpf_prog_test_run_opts(prog, &opts))
			return die("BPF_PROG_TEST_RUN", errno);
		printf("%u\n", opts.retval);
	}
	free(line);
	fflush(stdout);
	return 0;
}

/* Mean kernel-measured ns per run of `prog` over the packets on stdin, each run `repeat` times. */
static int bench(int prog, unsigned int repeat)
{
	static unsigned char pkt[MAX_PKT];
	char *line = NULL;
	size_t cap = 0;
	unsigned long long total = 0, runs = 0;

	while (getline(&line, &cap, stdin) > 0) {
		int len = 0;
		struct __sk_buff ctx = { .ifindex = 1 };

		for (const char *h = line; hexval(h[0]) >= 0 && hexval(h[1]) >= 0 && len < MAX_PKT; h += 2)
			pkt[len++] = (unsigned char)(hexval(h[0]) << 4 | hexval(h[1]));
		LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkt, .data_size_in = (__u32)len, .ctx_in = &ctx,
			    .ctx_size_in = sizeof(ctx), .repeat = repeat);
		if (bpf_prog_test_run_opts(prog, &opts))
			return die("BPF_PROG_TEST_RUN", errno);
		total += (unsigned long long)opts.duration * repeat;
		runs += repeat;
	}
	free(line);
	printf("{\"runs\":%llu,\"meanNs\":%.2f}\n", runs, runs ? (double)total / (double)runs : 0.0);
	return 0;
}

/*
 * Opens an object as a private copy. Maps declared with LIBBPF_PIN_BY_NAME (qosify's) would
 * otherwise be reused from, or left pinned in, the host's /sys/fs/bpf, shared with whatever
 * runs there. Programs in sections libbpf no longer maps to a type ("classifier/ingress",
 * obserwrt's) are TC programs: the only kind this harness runs.
 */
static struct bpf_object *open_private(const char *path)
{
	struct bpf_object *obj = bpf_object__open_file(path, NULL);
	struct bpf_program *p;
	struct bpf_map *m;

	if (!obj)
		return NULL;
	bpf_object__for_each_map(m, obj)
		if (bpf_map__set_pin_path(m, NULL))
			goto fail;
	bpf_object__for_each_program(p, obj)
		if (bpf_program__type(p) == BPF_PROG_TYPE_UNSPEC && bpf_program__set_type(p, BPF_PROG_TYPE_SCHED_CLS))
			goto fail;
	return obj;
fail:
	bpf_object__close(obj);
	errno = EINVAL;
	return NULL;
}

/*
 * The verifier's "processed N insns" per program, from a stats-level log. `strict`: check
 * packet accesses for alignment as the kernel does on CPUs without efficient unaligned access
 * (MIPS), where the packet is assumed to start 2 bytes past a 4-byte boundary (NET_IP_ALIGN).
 */
static int verifier_stats(const char *path, int strict)
{
	struct bpf_object *obj = open_private(path);
	struct bpf_program *p;
	static char logs[16][4096];
	int i = 0, err, first = 1;

	if (!obj)
		return die("open object", errno);
	bpf_object__for_each_program(p, obj) {
		if (i >= 16)
			break;
		bpf_program__set_log_buf(p, logs[i], sizeof(logs[i]));
		bpf_program__set_log_level(p, 4); /* BPF_LOG_STATS */
		if (strict)
			bpf_program__set_flags(p, bpf_program__flags(p) | BPF_F_STRICT_ALIGNMENT);
		i++;
	}
	err = bpf_object__load(obj);
	if (err)
		return die("load object", err);
	printf("{");
	i = 0;
	bpf_object__for_each_program(p, obj) {
		const char *m = i < 16 ? strstr(logs[i], "processed ") : NULL;

		printf("%s\"%s\":%ld", first ? "" : ",", bpf_program__name(p), m ? strtol(m + 10, NULL, 10) : -1L);
		first = 0;
		i++;
	}
	printf("}\n");
	bpf_object__close(obj);
	return 0;
}

struct attached {
	struct bpf_tc_hook hook;
	struct bpf_tc_opts in, eg;
	int created;
};

static int attach_and_wait(struct bpf_object *obj, int prog_in, int prog_eg, char **ifs, int nifs)
{
	struct attached *a = calloc((size_t)nifs, sizeof(*a));
	int err = 0, rc = 0;

	if (!a)
		return die("calloc", ENOMEM);
	for (int i = 0; i < nifs && !err; i++) {
		int ifindex = (int)if_nametoindex(ifs[i]);

		if (!ifindex) {
			fprintf(stderr, "bpf_harness: no interface %s\n", ifs[i]);
			err = -ENODEV;
			break;
		}
		a[i].hook = (struct bpf_tc_hook){ .sz = sizeof(struct bpf_tc_hook), .ifindex = ifindex,
						  .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS };
		err = bpf_tc_hook_create(&a[i].hook);
		a[i].created = err == 0;
		if (err == -EEXIST)
			err = 0;
		if (err)
			break;
		a[i].in = (struct bpf_tc_opts){ .sz = sizeof(struct bpf_tc_opts), .prog_fd = prog_in };
		a[i].eg = (struct bpf_tc_opts){ .sz = sizeof(struct bpf_tc_opts), .prog_fd = prog_eg };
		a[i].hook.attach_point = BPF_TC_INGRESS;
		err = bpf_tc_attach(&a[i].hook, &a[i].in);
		if (!err) {
			a[i].hook.attach_point = BPF_TC_EGRESS;
			err = bpf_tc_attach(&a[i].hook, &a[i].eg);
		}
	}
	if (err) {
		rc = die("attach", err);
	} else {
		struct pollfd pfd = { .fd = 0, .events = POLLIN };
		char buf[64];

		printf("ready\n");
		fflush(stdout);
		while (!stop) {
			if (poll(&pfd, 1, 200) > 0 && read(0, buf, sizeof(buf)) <= 0)
				break;
		}
		rc = dump(obj);
	}
	for (int i = 0; i < nifs; i++) {
		if (!a[i].hook.ifindex)
			continue;
		/* Detach only our filters; remove clsact only if we created it. */
		a[i].in.prog_fd = a[i].in.prog_id = a[i].in.flags = 0;
		a[i].eg.prog_fd = a[i].eg.prog_id = a[i].eg.flags = 0;
		a[i].hook.attach_point = BPF_TC_INGRESS;
		if (a[i].in.handle)
			bpf_tc_detach(&a[i].hook, &a[i].in);
		a[i].hook.attach_point = BPF_TC_EGRESS;
		if (a[i].eg.handle)
			bpf_tc_detach(&a[i].hook, &a[i].eg);
		if (a[i].created) {
			a[i].hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
			bpf_tc_hook_destroy(&a[i].hook);
		}
	}
	free(a);
	return rc;
}

int main(int argc, char **argv)
{
	struct bpf_object *obj;
	struct bpf_program *pin, *peg;
	const char *role = "lan";
	char name_in[32], name_eg[32];
	__u32 max_flows = 0;
	unsigned long long window_ms = 0;
	int i = 1, err;

	for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
		if (strcmp(argv[i], "--role") == 0 && parse_role(argv[i + 1]) >= 0) {
			role = argv[i + 1];
		} else if (strcmp(argv[i], "--pending") == 0 && (strcmp(argv[i + 1], "keep") == 0 || strcmp(argv[i + 1], "flush") == 0)) {
			keep_pending = strcmp(argv[i + 1], "keep") == 0;
		} else if (strcmp(argv[i], "--window-ms") == 0) {
			window_ms = strtoull(argv[i + 1], NULL, 10);
		} else if (strcmp(argv[i], "--max-flows") == 0) {
			max_flows = (__u32)strtoul(argv[i + 1], NULL, 10);
		} else {
			fprintf(stderr, "bpf_harness: bad option %s %s\n", argv[i], argv[i + 1]);
			return 2;
		}
	}
	if (argc - i < 2) {
		fprintf(stderr, "usage: bpf_harness [OPTIONS] OBJ run|attach IF...|bench PROG REPEAT|verifier-stats[-strict]\n");
		return 2;
	}
	libbpf_set_strict_mode(LIBBPF_STRICT_ALL);
	if (strcmp(argv[i + 1], "verifier-stats") == 0 || strcmp(argv[i + 1], "verifier-stats-strict") == 0)
		return verifier_stats(argv[i], argv[i + 1][14] != '\0');
	obj = open_private(argv[i]);
	if (!obj)
		return die("open object", errno);
	if (max_flows && bpf_object__find_map_by_name(obj, "fw_flows")) {
		err = bpf_map__set_max_entries(bpf_object__find_map_by_name(obj, "fw_flows"), max_flows);
		if (err)
			return die("set max_entries", err);
	}
	if (window_ms) {
		struct bpf_map *m;
		size_t size = 0;
		__u64 *ns = NULL;

		/* the object's only .rodata variable: fw_window_ns */
		bpf_object__for_each_map(m, obj)
			if (strstr(bpf_map__name(m), ".rodata"))
				ns = (__u64 *)bpf_map__initial_value(m, &size);
		if (!ns || size < sizeof(*ns))
			return die("--window-ms: the object has no in-kernel model", ENOENT);
		*ns = window_ms * 1000000ULL;
	}
	err = bpf_object__load(obj);
	if (err)
		return die("load object (verifier log above)", err);
	if (strcmp(argv[i + 1], "eval") == 0 && argc - i == 3) {
		struct bpf_program *p = bpf_object__find_program_by_name(obj, argv[i + 2]);

		if (!p)
			return die(argv[i + 2], ENOENT);
		err = eval_rows(bpf_program__fd(p));
		bpf_object__close(obj);
		return err;
	}
	if (strcmp(argv[i + 1], "bench") == 0 && argc - i == 4) {
		struct bpf_program *p = bpf_object__find_program_by_name(obj, argv[i + 2]);

		if (!p)
			return die(argv[i + 2], ENOENT);
		err = bench(bpf_program__fd(p), (unsigned int)strtoul(argv[i + 3], NULL, 10));
		bpf_object__close(obj);
		return err;
	}
	snprintf(name_in, sizeof(name_in), "fw_%s_ingress", role);
	snprintf(name_eg, sizeof(name_eg), "fw_%s_egress", role);
	pin = bpf_object__find_program_by_name(obj, name_in);
	peg = bpf_object__find_program_by_name(obj, name_eg);
	if (!pin || !peg)
		return die(name_in, ENOENT);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	if (strcmp(argv[i + 1], "run") == 0) {
		cpu_set_t set;

		/*
		 * One CPU for every packet, as one receive queue gives a router: a flow's first
		 * packet waits in that CPU's pending slot for its second (the first CPU this process
		 * may use).
		 */
		if (sched_getaffinity(0, sizeof(set), &set) == 0) {
			for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
				if (CPU_ISSET(cpu, &set)) {
					pin_to(cpu);
					run_cpu = cpu;
					break;
				}
			}
		}
		err = run_packets(bpf_program__fd(pin), bpf_program__fd(peg));
		if (!err)
			err = dump(obj);
	} else if (strcmp(argv[i + 1], "attach") == 0 && argc - i > 2) {
		err = attach_and_wait(obj, bpf_program__fd(pin), bpf_program__fd(peg), argv + i + 2, argc - i - 2);
	} else {
		fprintf(stderr, "bpf_harness: unknown command %s\n", argv[i + 1]);
		err = 2;
	}
	bpf_object__close(obj);
	return err;
}
