/* SPDX-License-Identifier: MIT */
/*
 * A small loader for the toolkit's BPF objects, in place of libbpf: no libelf, no zlib, a few
 * kilobytes. It understands what fw_flows.bpf.c uses and nothing more: BTF-defined maps in
 * ".maps", programs as global functions, map relocations; with the in-kernel model also global
 * data (".data", ".rodata", each one array map, as libbpf makes them) and a program array
 * filled from its map definition (`.values = { [0] = &prog }`, a tail call's target). No CO-RE
 * (OpenWrt has no kernel BTF).
 */
#ifndef FW_BPF_OBJ_H
#define FW_BPF_OBJ_H

#include <stddef.h>
#include <stdint.h>
#include <linux/bpf.h>

#define BPF_OBJ_MAX_MAPS 16
#define BPF_OBJ_MAX_PROGS 16

struct bpf_obj_map {
	char name[32];
	uint32_t type, key_size, value_size, max_entries, flags;
	int fd;
	int reused;       /* taken from a pin instead of created */
	unsigned int data_sec; /* global data: the ELF section it holds (0: a .maps map) */
	uint32_t sec_off, sec_size; /* where its definition lies in .maps */
	int has_values;   /* a `values` member: initial entries, by relocation */
	uint32_t values_off;
};

struct bpf_obj_prog {
	char name[32];
	unsigned int sec;  /* section index */
	uint64_t off, size;
	int fd;
};

struct bpf_obj {
	uint8_t *buf;
	size_t len;
	struct bpf_obj_map maps[BPF_OBJ_MAX_MAPS];
	int nmaps;
	struct bpf_obj_prog progs[BPF_OBJ_MAX_PROGS];
	int nprogs;
	char license[64];
	char err[512];
};

/* Reads and parses the object; maps and programs are described, nothing is created yet. */
int bpf_obj_open(struct bpf_obj *o, const char *path);
/*
 * Creates the maps (or reuses the ones pinned under pin_dir with the same shape, and pins new
 * ones there; pin_dir may be NULL), then relocates and loads the programs named in `progs`
 * (NULL-terminated; NULL loads every program): the verifier's time goes only to what is used.
 */
int bpf_obj_load(struct bpf_obj *o, const char *pin_dir, const char *const *progs);
/*
 * Sets global variable `name` (in .data or .rodata) to `size` bytes at `value`, before
 * bpf_obj_load: -1 when the object has no such variable of that size.
 */
int bpf_obj_set_global(struct bpf_obj *o, const char *name, const void *value, size_t size);
/* How many programs are loaded. */
int bpf_obj_loaded(const struct bpf_obj *o);
struct bpf_obj_map *bpf_obj_map(struct bpf_obj *o, const char *name);
int bpf_obj_prog_fd(const struct bpf_obj *o, const char *name);
/* How many loaded programs the kernel JIT-compiled (the rest run in the interpreter). */
int bpf_obj_jited(const struct bpf_obj *o);
void bpf_obj_close(struct bpf_obj *o);

#endif
