/* SPDX-License-Identifier: MIT */
/* The runner's settings: defaults, a UCI-style file (/etc/config/fwrunner), then the command line. */
#ifndef FW_CONFIG_H
#define FW_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define FW_MAX_IFACES 8

struct fw_iface {
	char name[32];
	int wan; /* 0: LAN port (faces clients), 1: WAN port */
};

struct runner_config {
	struct fw_iface ifaces[FW_MAX_IFACES];
	int nifaces;
	uint32_t window_s;      /* seconds per window */
	uint32_t windows;       /* stop after this many windows; 0 = run until signalled */
	char model[256];
	char object[256];
	char pin_dir[256];      /* empty: do not pin */
	char output[256];       /* empty: stdout only */
	uint32_t output_max_kb;
	char record[256];       /* feature vectors for training; empty: off */
	size_t mem_limit;
	uint32_t time_limit_ms;
};

void config_defaults(struct runner_config *c);
/* Both return 0, or -1 with one line in err naming the key, the value and what is accepted. */
int config_load_uci(struct runner_config *c, const char *path, char *err, size_t errlen);
int config_set(struct runner_config *c, const char *key, const char *value, char *err, size_t errlen);

#endif
