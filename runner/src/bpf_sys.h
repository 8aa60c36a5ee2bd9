/* SPDX-License-Identifier: MIT */
/* Thin wrappers over the bpf(2) syscall: the only kernel interface the loader needs. */
#ifndef FW_BPF_SYS_H
#define FW_BPF_SYS_H

#include <stddef.h>
#include <stdint.h>
#include <linux/bpf.h>

int sys_bpf(enum bpf_cmd cmd, union bpf_attr *attr, unsigned int size);
int bpf_map_create_fd(uint32_t type, const char *name, uint32_t key_size, uint32_t value_size,
		      uint32_t max_entries, uint32_t flags);
int bpf_map_lookup(int fd, const void *key, void *value);
int bpf_map_update(int fd, const void *key, const void *value, uint64_t flags);
int bpf_map_delete(int fd, const void *key);
int bpf_map_freeze(int fd);
int bpf_map_next_key(int fd, const void *key, void *next);
int bpf_prog_load_fd(uint32_t type, const char *name, const struct bpf_insn *insns, size_t insn_cnt,
		     const char *license, char *log, size_t log_size);
int bpf_pin(int fd, const char *path);
int bpf_get_pinned(const char *path);
/* Fills a struct bpf_map_info, bpf_prog_info, ... of `len` bytes. */
int bpf_obj_info(int fd, void *info, uint32_t len);

#endif
