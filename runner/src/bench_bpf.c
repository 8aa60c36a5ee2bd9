/* SPDX-License-Identifier: MIT */
/*
 * bench-bpf: the BPF programs' cost per packet on the router itself, through
 * BPF_PROG_TEST_RUN, each case beside a program that only returns (the same packets, the same
 * way), and the cost of loading the object. Run in a QEMU guest under `-icount shift=0`, a
 * nanosecond of the guest's clock is one guest instruction, so every figure here is an
 * instruction count there (bench/platforms.ts checks that claim before it uses it).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "bench_bpf.h"
#include "bpf_obj.h"
#include "bpf_sys.h"
#include "watch.h"

#define PKT_LEN (14 + 20 + 20 + 1400) /* also holds a forest row (256 bytes) */

/* A download packet of flow `i`: server 10.x.y.z:443 -> client 192.168.1.20, 1400 B payload. */
static void tcp_packet(uint8_t *p, uint32_t i)
{
	static const uint8_t eth[14] = { 2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00 };
	uint16_t port = htons((uint16_t)(40000 + i % 20000)), sport = htons(443), tot = htons(PKT_LEN - 14);

	memset(p, 0, PKT_LEN);
	memcpy(p, eth, sizeof(eth));
	p[14] = 0x45;
	memcpy(p + 16, &tot, 2);
	p[22] = 64;
	p[23] = 6;
	p[26] = 10;
	p[27] = (uint8_t)(i >> 16);
	p[28] = (uint8_t)(i >> 8);
	p[29] = (uint8_t)i;
	p[30] = 192;
	p[31] = 168;
	p[32] = 1;
	p[33] = 20;
	memcpy(p + 34, &sport, 2);
	memcpy(p + 36, &port, 2);
	p[41] = 0x10; /* seq 16 */
	p[46] = 0x50; /* data offset 5 words */
	p[47] = 0x10; /* ACK */
	p[48] = 0xff; /* window */
}

static int test_run(int prog, const uint8_t *pkt, uint32_t len, uint32_t repeat, uint64_t *ns)
{
	static uint8_t out[PKT_LEN + 64];
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.test.prog_fd = (uint32_t)prog;
	a.test.data_in = (uint64_t)(uintptr_t)pkt;
	a.test.data_size_in = len;
	a.test.data_out = (uint64_t)(uintptr_t)out;
	a.test.data_size_out = sizeof(out);
	a.test.repeat = repeat;
	if (sys_bpf(BPF_PROG_TEST_RUN, &a, sizeof(a)))
		return -1;
	*ns += (uint64_t)a.test.duration * repeat;
	return 0;
}

struct bench_case {
	const char *name;
	double ns, empty_ns;
};

/* Mean ns per packet of `prog` over `npkts` packets made by `make`, each run `repeat` times. */
static int measure(int prog, void (*make)(uint8_t *, uint32_t), uint32_t first, uint32_t npkts, uint32_t repeat,
		   uint32_t len, double *mean)
{
	static uint8_t pkt[PKT_LEN];
	uint64_t ns = 0;

	for (uint32_t i = 0; i < npkts; i++) {
		make(pkt, first + i);
		if (test_run(prog, pkt, len, repeat, &ns))
			return -1;
	}
	*mean = (double)ns / ((double)npkts * repeat);
	return 0;
}

/* A row of inputs for the in-kernel forest (fw_forest_eval): its walk is branch-free, so any row costs the same. */
static void forest_row(uint8_t *p, uint32_t i)
{
	for (uint32_t k = 0; k < 64; k++) {
		uint32_t v = (k * 2654435761u + i) >> 12;

		memcpy(p + 4 * k, &v, 4);
	}
}

static void arp_packet(uint8_t *p, uint32_t i)
{
	(void)i;
	memset(p, 1, 42);
	p[12] = 0x08;
	p[13] = 0x06;
}

static int jit_setting(void)
{
	FILE *f = fopen("/proc/sys/net/core/bpf_jit_enable", "r");
	int v = -1;

	if (f) {
		if (fscanf(f, "%d", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

/* Opens and loads `progs` of the object with fresh maps; the ns it took, or 0 (message printed). */
static uint64_t timed_load(struct bpf_obj *o, const char *object, const char *const *progs)
{
	uint64_t t = mono_ns();

	if (bpf_obj_open(o, object) || bpf_obj_load(o, NULL, progs)) {
		fprintf(stderr, "fwrunner: bench-bpf: %s\n", o->err);
		bpf_obj_close(o);
		return 0;
	}
	return mono_ns() - t;
}

int bench_bpf(const char *object, uint32_t repeat, uint32_t new_flows)
{
	/* r0 = TC_ACT_OK; exit: the baseline every case is measured against */
	static const struct bpf_insn ret0[2] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	static struct bpf_obj o;
	const char *const progs[] = { "fw_lan_ingress", NULL };
	/* what the runner loads on a router watching a LAN and a WAN Ethernet port */
	const char *const ports[] = { "fw_lan_ingress", "fw_lan_egress", "fw_wan_ingress", "fw_wan_egress", NULL };
	struct bench_case cases[5] = { { "existingFlow" }, { "newFlow" }, { "nonIp" }, { "newFlowSecond" }, { "forestPrediction" } };
	int ncases = 4;
	uint64_t load_ns, load_all_ns;
	int empty, prog, rc = 1;
	char log[256];

	/* The programs of two Ethernet ports, then the one program measured, alone, with fresh maps. */
	if (!(load_all_ns = timed_load(&o, object, ports)))
		return 1;
	int nprogs = bpf_obj_loaded(&o), jited = bpf_obj_jited(&o);
	bpf_obj_close(&o);
	if (!(load_ns = timed_load(&o, object, progs)))
		return 1;
	prog = bpf_obj_prog_fd(&o, "fw_lan_ingress");
	empty = bpf_prog_load_fd(BPF_PROG_TYPE_SCHED_CLS, "empty_tc", ret0, 2, "GPL", log, sizeof(log));
	if (prog < 0 || empty < 0) {
		fprintf(stderr, "fwrunner: bench-bpf: cannot load the programs: %s\n", strerror(errno));
		goto out;
	}
	/*
	 * Existing flow: one packet again and again (its flow exists after the first run). New
	 * flows: a packet each from `new_flows` sources never seen, one run each; the baseline
	 * runs the same packets the same way, so the syscall's own cost cancels out. A new flow's
	 * first packet waits in a pending slot (fw_maps.h); the same packets once more are each
	 * flow's second, which records it (flows whose slot another took are parked again).
	 */
	if (measure(prog, tcp_packet, 0, 1, repeat, PKT_LEN, &cases[0].ns) ||
	    measure(empty, tcp_packet, 0, 1, repeat, PKT_LEN, &cases[0].empty_ns) ||
	    measure(prog, tcp_packet, 1, new_flows, 1, PKT_LEN, &cases[1].ns) ||
	    measure(empty, tcp_packet, 1, new_flows, 1, PKT_LEN, &cases[1].empty_ns) ||
	    measure(prog, tcp_packet, 1, new_flows, 1, PKT_LEN, &cases[3].ns) ||
	    measure(empty, tcp_packet, 1, new_flows, 1, PKT_LEN, &cases[3].empty_ns) ||
	    measure(prog, arp_packet, 0, 1, repeat, 42, &cases[2].ns) ||
	    measure(empty, arp_packet, 0, 1, repeat, 42, &cases[2].empty_ns)) {
		fprintf(stderr, "fwrunner: bench-bpf: BPF_PROG_TEST_RUN: %s\n", strerror(errno));
		goto out;
	}
	/* with the in-kernel model: one prediction of its forest, beside the same empty program */
	{
		static struct bpf_obj f;
		const char *const forest[] = { "fw_forest_eval", NULL };
		int has = 0;

		if (bpf_obj_open(&f, object) == 0)
			for (int i = 0; i < f.nprogs; i++)
				has |= !strcmp(f.progs[i].name, "fw_forest_eval");
		if (has && (bpf_obj_load(&f, NULL, forest) ||
			    measure(bpf_obj_prog_fd(&f, "fw_forest_eval"), forest_row, 0, 1, repeat, 256, &cases[4].ns) ||
			    measure(empty, forest_row, 0, 1, repeat, 256, &cases[4].empty_ns))) {
			fprintf(stderr, "fwrunner: bench-bpf: the in-kernel forest: %s %s\n", f.err, strerror(errno));
			bpf_obj_close(&f);
			goto out;
		}
		bpf_obj_close(&f);
		ncases = has ? 5 : 4;
	}
	printf("{\"bpfBench\":true,\"jitEnable\":%d,\"programs\":%d,\"jited\":%d,\"loadAllNs\":%llu,\"loadOneNs\":%llu,"
	       "\"repeat\":%u,\"newFlows\":%u",
	       jit_setting(), nprogs, jited, (unsigned long long)load_all_ns, (unsigned long long)load_ns, repeat, new_flows);
	for (int i = 0; i < ncases; i++)
		printf(",\"%s\":{\"ns\":%.1f,\"emptyNs\":%.1f}", cases[i].name, cases[i].ns, cases[i].empty_ns);
	printf("}\n");
	rc = 0;
out:
	if (empty >= 0)
		close(empty);
	bpf_obj_close(&o);
	return rc;
}

/*
 * A loop whose instructions bench/platforms.ts counts under qemu-user: the guest's clock over
 * the same loop says whether a guest nanosecond is one instruction.
 */
int bench_loop(uint64_t n)
{
	volatile uint32_t sink = 0;
	uint64_t t = mono_ns();

	for (uint64_t i = 0; i < n; i++)
		sink += (uint32_t)i;
	t = mono_ns() - t;
	printf("{\"loop\":%llu,\"ns\":%llu}\n", (unsigned long long)n, (unsigned long long)t);
	return 0;
}
