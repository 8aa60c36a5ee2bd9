/* SPDX-License-Identifier: MIT */
/*
 * fwrunner: the router-side runner of the toolkit. It attaches the BPF programs, reads the flow
 * table every window and runs the QuickJS model on each active flow, prints the in-kernel
 * model's answers, and evaluates JavaScript and QuickJS bytecode under a memory and time budget.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "bench_bpf.h"
#include "config.h"
#include "model.h"
#include "watch.h"

#ifndef FW_VERSION
#define FW_VERSION "dev"
#endif

static void usage(FILE *f)
{
	fprintf(f,
		"usage: fwrunner [--mem-limit BYTES] [--time-limit MS] COMMAND\n"
		"  watch [OPTIONS]     attach to interfaces, run the model on every flow each window\n"
		"  predict [OPTIONS]   feature vectors (JSON lines) on stdin through the model\n"
		"  eval FILE.js        evaluate a script, print its completion value as JSON\n"
		"  compile IN.js OUT   compile a script to QuickJS bytecode for this CPU\n"
		"  run FILE.qbc        evaluate bytecode, print its completion value as JSON\n"
		"  info                print the build's facts as JSON\n"
		"  bench-window --flows N --model M   one window over N synthetic flows (benchmarks)\n"
		"  bench-bpf [--object PATH] [--repeat N] [--new-flows N]   BPF cost per packet and load\n"
		"  bench-loop N        the clock over a loop of N iterations (calibrates bench-bpf)\n"
		"watch/predict OPTIONS (override /etc/config/fwrunner or --config FILE):\n"
		"  --lan IF  --wan IF  --window SEC  --windows N  --once  --model PATH|none  --object PATH\n"
		"  --pin-dir DIR|none  --output FILE  --output-max-kb N  --record FILE  --mem-limit BYTES\n"
		"  --time-limit MS\n"
		"  --model none: no QuickJS model; without --record the lines carry each flow's counts and\n"
		"  the in-kernel model's answer (fw_flows_forest.bpf.o), and no features are computed\n");
}

static int info(void)
{
	const union { uint32_t u; uint8_t b[4]; } probe = { .u = 0x01020304 };

	const char *engine = model_engine();

	/* "engine": null in a runner built without QuickJS, whose only model is "none" */
	printf("{\"runner\":\"%s\",\"engine\":%s%s%s,\"byteOrder\":\"%s\",\"pointerBits\":%u}\n", FW_VERSION,
	       engine ? "\"" : "", engine ? engine : "null", engine ? "\"" : "", probe.b[0] == 1 ? "big" : "little",
	       (unsigned)(sizeof(void *) * 8));
	return 0;
}

static int parse_size(const char *s, unsigned long long *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno || end == s || *end != '\0' || s[0] == '-' ? -1 : 0;
}

/* watch/predict: the config file first, then the command line over it. */
static int daemon_main(const char *cmd, int argc, char **argv)
{
	struct runner_config c;
	char err[400], key[32];
	const char *file = NULL;
	unsigned long flows = 100, repeat = 2000, new_flows = 500;
	int i;

	config_defaults(&c);
	for (i = 0; i + 1 < argc; i++)
		if (!strcmp(argv[i], "--config"))
			file = argv[i + 1];
	if (!file && access("/etc/config/fwrunner", R_OK) == 0)
		file = "/etc/config/fwrunner";
	if (file && config_load_uci(&c, file, err, sizeof(err))) {
		fprintf(stderr, "fwrunner: %s\n", err);
		return 2;
	}
	for (i = 0; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--once")) {
			c.windows = 1;
			continue;
		}
		if (strncmp(a, "--", 2) || i + 1 >= argc) {
			fprintf(stderr, "fwrunner: %s: %s needs a value\n", cmd, a);
			usage(stderr);
			return 2;
		}
		if (!strcmp(a, "--config")) {
			i++;
			continue;
		}
		if (!strcmp(a, "--flows") && !strcmp(cmd, "bench-window")) {
			flows = strtoul(argv[++i], NULL, 10);
			continue;
		}
		if ((!strcmp(a, "--repeat") || !strcmp(a, "--new-flows")) && !strcmp(cmd, "bench-bpf")) {
			unsigned long long v;

			if (parse_size(argv[i + 1], &v) || v < 1 || v > 1000000) {
				fprintf(stderr, "fwrunner: %s needs a whole number from 1 to 1000000, got \"%s\"\n", a, argv[i + 1]);
				return 2;
			}
			*(a[2] == 'r' ? &repeat : &new_flows) = (unsigned long)v;
			i++;
			continue;
		}
		/* --pin-dir -> pin_dir: the same names as the config file */
		snprintf(key, sizeof(key), "%s", a + 2);
		for (char *p = key; *p; p++)
			if (*p == '-')
				*p = '_';
		if (config_set(&c, key, argv[++i], err, sizeof(err))) {
			fprintf(stderr, "fwrunner: --%s\n", err);
			return 2;
		}
	}
	if (!strcmp(cmd, "bench-window"))
		return bench_window(&c, (uint32_t)flows);
	if (!strcmp(cmd, "bench-bpf"))
		return bench_bpf(c.object, (uint32_t)repeat, (uint32_t)new_flows);
	return !strcmp(cmd, "watch") ? watch_run(&c) : predict_lines(&c);
}

int main(int argc, char **argv)
{
	struct run_limits limits = { .memory_bytes = 16u << 20, .time_ms = 2000 };
	unsigned long long n;
	const char *cmd;
	int i = 1;

	if (argc > 1 && (!strcmp(argv[1], "watch") || !strcmp(argv[1], "predict") || !strcmp(argv[1], "bench-window") ||
			 !strcmp(argv[1], "bench-bpf")))
		return daemon_main(argv[1], argc - 2, argv + 2);
	for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
		if (parse_size(argv[i + 1], &n) != 0) {
			fprintf(stderr, "fwrunner: %s needs a non-negative integer, got \"%s\"\n", argv[i], argv[i + 1]);
			return 2;
		}
		if (strcmp(argv[i], "--mem-limit") == 0) {
			limits.memory_bytes = (size_t)n;
		} else if (strcmp(argv[i], "--time-limit") == 0) {
			limits.time_ms = (uint32_t)n;
		} else {
			fprintf(stderr, "fwrunner: unknown option %s\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return 2;
	}
	cmd = argv[i++];
	if (strcmp(cmd, "info") == 0)
		return info();
	if (strcmp(cmd, "bench-loop") == 0) {
		if (argc - i != 1 || parse_size(argv[i], &n)) {
			fprintf(stderr, "fwrunner: bench-loop needs a number of iterations\n");
			return 2;
		}
		return bench_loop(n);
	}
	if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0) {
		usage(stdout);
		return 0;
	}
	if ((strcmp(cmd, "compile") == 0 && argc - i != 2) ||
	    ((strcmp(cmd, "eval") == 0 || strcmp(cmd, "run") == 0) && argc - i != 1)) {
		usage(stderr);
		return 2;
	}
	if (strcmp(cmd, "eval") && strcmp(cmd, "run") && strcmp(cmd, "compile")) {
		fprintf(stderr, "fwrunner: unknown command \"%s\"\n", cmd);
		usage(stderr);
		return 2;
	}
	return model_script(cmd, argv[i], i + 1 < argc ? argv[i + 1] : NULL, &limits);
}
