/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "bpf_sys.h"

#define PTR(p) ((uint64_t)(uintptr_t)(p))

int sys_bpf(enum bpf_cmd cmd, union bpf_attr *attr, unsigned int size)
{
	return (int)syscall(__NR_bpf, cmd, attr, size);
}

int bpf_map_create_fd(uint32_t type, const char *name, uint32_t key_size, uint32_t value_size,
		      uint32_t max_entries, uint32_t flags)
{
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.map_type = type;
	a.key_size = key_size;
	a.value_size = value_size;
	a.max_entries = max_entries;
	a.map_flags = flags;
	strncpy(a.map_name, name, sizeof(a.map_name) - 1);
	return sys_bpf(BPF_MAP_CREATE, &a, sizeof(a));
}

static int elem(enum bpf_cmd cmd, int fd, const void *key, const void *value, uint64_t flags)
{
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.map_fd = (uint32_t)fd;
	a.key = PTR(key);
	a.value = PTR(value);
	a.flags = flags;
	return sys_bpf(cmd, &a, sizeof(a));
}

int bpf_map_lookup(int fd, const void *key, void *value)
{
	return elem(BPF_MAP_LOOKUP_ELEM, fd, key, value, 0);
}

int bpf_map_update(int fd, const void *key, const void *value, uint64_t flags)
{
	return elem(BPF_MAP_UPDATE_ELEM, fd, key, value, flags);
}

int bpf_map_delete(int fd, const void *key)
{
	return elem(BPF_MAP_DELETE_ELEM, fd, key, NULL, 0);
}

/* A map the program may only read is frozen for user space too: then the verifier trusts its bytes. */
int bpf_map_freeze(int fd)
{
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.map_fd = (uint32_t)fd;
	return sys_bpf(BPF_MAP_FREEZE, &a, sizeof(a));
}

int bpf_map_next_key(int fd, const void *key, void *next)
{
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.map_fd = (uint32_t)fd;
	a.key = PTR(key);
	a.next_key = PTR(next);
	return sys_bpf(BPF_MAP_GET_NEXT_KEY, &a, sizeof(a));
}

int bpf_prog_load_fd(uint32_t type, const char *name, const struct bpf_insn *insns, size_t insn_cnt,
		     const char *license, char *log, size_t log_size)
{
	union bpf_attr a;
	int fd;

	memset(&a, 0, sizeof(a));
	a.prog_type = type;
	a.insns = PTR(insns);
	a.insn_cnt = (uint32_t)insn_cnt;
	a.license = PTR(license);
	strncpy(a.prog_name, name, sizeof(a.prog_name) - 1);
	fd = sys_bpf(BPF_PROG_LOAD, &a, sizeof(a));
	if (fd < 0 && log && log_size) {
		/* Load again with the verifier's log only when it failed: the log is costly. */
		int saved = errno;

		log[0] = '\0';
		a.log_level = 1;
		a.log_buf = PTR(log);
		a.log_size = (uint32_t)log_size;
		sys_bpf(BPF_PROG_LOAD, &a, sizeof(a));
		if (strlen(log) + 1 >= log_size) {
			/*
			 * Full: before 6.4 the kernel keeps a log's beginning and drops the rest, the
			 * reason included. Once more into 32 MB, and the end of that goes in `log`.
			 */
			size_t big = 32u << 20;
			char *b = malloc(big);

			if (b) {
				b[0] = '\0';
				a.log_buf = PTR(b);
				a.log_size = (uint32_t)big;
				sys_bpf(BPF_PROG_LOAD, &a, sizeof(a));
				size_t n = strlen(b);
				const char *tail = n + 1 > log_size ? b + n - (log_size - 1) : b;

				memcpy(log, tail, strlen(tail) + 1);
				free(b);
			}
		}
		errno = saved;
	}
	return fd;
}

int bpf_pin(int fd, const char *path)
{
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.bpf_fd = (uint32_t)fd;
	a.pathname = PTR(path);
	return sys_bpf(BPF_OBJ_PIN, &a, sizeof(a));
}

int bpf_get_pinned(const char *path)
{
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.pathname = PTR(path);
	return sys_bpf(BPF_OBJ_GET, &a, sizeof(a));
}

/* BPF_OBJ_GET_INFO_BY_FD for any object kind: map, program, link. */
int bpf_obj_info(int fd, void *info, uint32_t len)
{
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	memset(info, 0, len);
	a.info.bpf_fd = (uint32_t)fd;
	a.info.info_len = len;
	a.info.info = PTR(info);
	return sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &a, sizeof(a));
}
