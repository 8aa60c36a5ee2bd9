/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config.h"

void config_defaults(struct runner_config *c)
{
	memset(c, 0, sizeof(*c));
	c->window_s = 10; /* the paper's window */
	snprintf(c->model, sizeof(c->model), "/usr/share/fwrunner/model.qbc");
	snprintf(c->object, sizeof(c->object), "/usr/lib/fwrunner/fw_flows.bpf.o");
	snprintf(c->pin_dir, sizeof(c->pin_dir), "/sys/fs/bpf/fwrunner");
	c->output_max_kb = 1024;
	c->mem_limit = 4u << 20;
	c->time_limit_ms = 200;
}

static int number(const char *key, const char *v, unsigned long long min, unsigned long long max,
		  unsigned long long *out, char *err, size_t errlen)
{
	char *end;

	errno = 0;
	*out = strtoull(v, &end, 10);
	if (errno || end == v || *end || v[0] == '-' || *out < min || *out > max) {
		snprintf(err, errlen, "%s: \"%s\" is not an integer from %llu to %llu", key, v, min, max);
		return -1;
	}
	return 0;
}

static int path(char *dst, size_t size, const char *key, const char *v, char *err, size_t errlen)
{
	if (strlen(v) >= size) {
		snprintf(err, errlen, "%s: path longer than %zu characters", key, size - 1);
		return -1;
	}
	snprintf(dst, size, "%s", v);
	return 0;
}

static int iface(struct runner_config *c, const char *key, const char *v, int wan, char *err, size_t errlen)
{
	size_t n = strlen(v);

	if (n == 0 || n >= sizeof(c->ifaces[0].name) || strchr(v, '/') || strchr(v, ' ')) {
		snprintf(err, errlen, "%s: \"%s\" is not an interface name", key, v);
		return -1;
	}
	if (c->nifaces >= FW_MAX_IFACES) {
		snprintf(err, errlen, "%s: at most %d interfaces can be watched", key, FW_MAX_IFACES);
		return -1;
	}
	snprintf(c->ifaces[c->nifaces].name, sizeof(c->ifaces[0].name), "%s", v);
	c->ifaces[c->nifaces++].wan = wan;
	return 0;
}

int config_set(struct runner_config *c, const char *key, const char *v, char *err, size_t errlen)
{
	unsigned long long n;

	if (!strcmp(key, "lan"))
		return iface(c, key, v, 0, err, errlen);
	if (!strcmp(key, "wan"))
		return iface(c, key, v, 1, err, errlen);
	if (!strcmp(key, "window")) {
		if (number(key, v, 1, 3600, &n, err, errlen))
			return -1;
		c->window_s = (uint32_t)n;
		return 0;
	}
	if (!strcmp(key, "windows")) {
		if (number(key, v, 0, 1u << 30, &n, err, errlen))
			return -1;
		c->windows = (uint32_t)n;
		return 0;
	}
	if (!strcmp(key, "output_max_kb")) {
		if (number(key, v, 1, 1u << 20, &n, err, errlen))
			return -1;
		c->output_max_kb = (uint32_t)n;
		return 0;
	}
	if (!strcmp(key, "mem_limit")) {
		if (number(key, v, 256 * 1024, 1ull << 30, &n, err, errlen))
			return -1;
		c->mem_limit = (size_t)n;
		return 0;
	}
	if (!strcmp(key, "time_limit")) {
		if (number(key, v, 1, 60000, &n, err, errlen))
			return -1;
		c->time_limit_ms = (uint32_t)n;
		return 0;
	}
	if (!strcmp(key, "model"))
		return path(c->model, sizeof(c->model), key, v, err, errlen);
	if (!strcmp(key, "object"))
		return path(c->object, sizeof(c->object), key, v, err, errlen);
	if (!strcmp(key, "pin_dir"))
		return path(c->pin_dir, sizeof(c->pin_dir), key, strcmp(v, "none") ? v : "", err, errlen);
	if (!strcmp(key, "output"))
		return path(c->output, sizeof(c->output), key, v, err, errlen);
	if (!strcmp(key, "record"))
		return path(c->record, sizeof(c->record), key, v, err, errlen);
	snprintf(err, errlen,
		 "unknown setting \"%s\"; accepted: lan, wan, window, windows, model, object, pin_dir, output, "
		 "output_max_kb, record, mem_limit, time_limit",
		 key);
	return -1;
}

/* Strips one level of '...' or "..." quoting, as UCI writes values. */
static char *unquote(char *s)
{
	size_t n = strlen(s);

	if (n >= 2 && (s[0] == '\'' || s[0] == '"') && s[n - 1] == s[0]) {
		s[n - 1] = '\0';
		return s + 1;
	}
	return s;
}

int config_load_uci(struct runner_config *c, const char *file, char *err, size_t errlen)
{
	FILE *f = fopen(file, "r");
	char line[512], sub[400];
	int lineno = 0, in_section = 0;

	if (!f) {
		snprintf(err, errlen, "config %s: %s", file, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		char *p = line, *kw, *key, *val, *save = NULL;

		lineno++;
		line[strcspn(line, "\r\n")] = '\0';
		while (isspace((unsigned char)*p))
			p++;
		if (!*p || *p == '#')
			continue;
		kw = strtok_r(p, " \t", &save);
		if (!strcmp(kw, "config")) {
			key = strtok_r(NULL, " \t", &save);
			in_section = key && !strcmp(unquote(key), "fwrunner");
			continue;
		}
		if (!in_section)
			continue; /* another package's section */
		key = strtok_r(NULL, " \t", &save);
		val = save ? save + strspn(save, " \t") : NULL;
		if ((strcmp(kw, "option") && strcmp(kw, "list")) || !key || !val || !*val) {
			snprintf(err, errlen, "config %s:%d: expected \"option KEY 'VALUE'\" or \"list KEY 'VALUE'\"", file,
				 lineno);
			fclose(f);
			return -1;
		}
		if (config_set(c, key, unquote(val), sub, sizeof(sub))) {
			snprintf(err, errlen, "config %s:%d: %s", file, lineno, sub);
			fclose(f);
			return -1;
		}
	}
	fclose(f);
	return 0;
}
