/* SPDX-License-Identifier: MIT */
/* Attaching BPF programs at the TC clsact hooks over rtnetlink, as `tc filter add ... bpf da` does. */
#ifndef FW_TC_ATTACH_H
#define FW_TC_ATTACH_H

#include <stdint.h>

enum tc_hook { TC_HOOK_INGRESS, TC_HOOK_EGRESS };

/* Our filters carry this priority and handle, so a restart replaces them and detach finds them. */
#define FW_TC_PRIO 0xfb
#define FW_TC_HANDLE 0xfb

/* Adds the clsact qdisc if missing; sets *created when this call made it. */
int tc_clsact_ensure(int ifindex, int *created, char *err, size_t errlen);
int tc_clsact_delete(int ifindex, char *err, size_t errlen);
/* Attaches (or replaces) our direct-action filter on one hook. */
int tc_filter_attach(int ifindex, enum tc_hook hook, int prog_fd, const char *name, char *err, size_t errlen);
/* Removes our filter; a filter already gone is not an error. */
int tc_filter_detach(int ifindex, enum tc_hook hook, char *err, size_t errlen);

#endif
