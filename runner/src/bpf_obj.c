/* SPDX-License-Identifier: MIT */
#include <elf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/btf.h>
#include "bpf_obj.h"
#include "bpf_sys.h"

static int fail(struct bpf_obj *o, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(o->err, sizeof(o->err), fmt, ap);
	va_end(ap);
	return -1;
}

static const Elf64_Ehdr *ehdr(const struct bpf_obj *o)
{
	return (const Elf64_Ehdr *)o->buf;
}

static const Elf64_Shdr *shdr(const struct bpf_obj *o, unsigned int i)
{
	return (const Elf64_Shdr *)(o->buf + ehdr(o)->e_shoff + (size_t)i * ehdr(o)->e_shentsize);
}

static const char *sec_name(const struct bpf_obj *o, unsigned int i)
{
	const Elf64_Shdr *strs = shdr(o, ehdr(o)->e_shstrndx);

	return (const char *)o->buf + strs->sh_offset + shdr(o, i)->sh_name;
}

static int find_sec(const struct bpf_obj *o, const char *name)
{
	for (unsigned int i = 1; i < ehdr(o)->e_shnum; i++)
		if (strcmp(sec_name(o, i), name) == 0)
			return (int)i;
	return -1;
}

static int in_file(const struct bpf_obj *o, uint64_t off, uint64_t size)
{
	return off <= o->len && size <= o->len - off;
}

/* ---- BTF: just enough to read map definitions ---- */

struct btf_view {
	const uint8_t *types, *strs;
	uint32_t types_len, strs_len;
	const struct btf_type **by_id;
	uint32_t n;
};

static size_t btf_extra(const struct btf_type *t)
{
	uint16_t vlen = BTF_INFO_VLEN(t->info);

	switch (BTF_INFO_KIND(t->info)) {
	case BTF_KIND_INT: return 4;
	case BTF_KIND_ARRAY: return sizeof(struct btf_array);
	case BTF_KIND_STRUCT:
	case BTF_KIND_UNION: return (size_t)vlen * sizeof(struct btf_member);
	case BTF_KIND_ENUM: return (size_t)vlen * sizeof(struct btf_enum);
	case BTF_KIND_FUNC_PROTO: return (size_t)vlen * sizeof(struct btf_param);
	case BTF_KIND_VAR: return sizeof(struct btf_var);
	case BTF_KIND_DATASEC: return (size_t)vlen * sizeof(struct btf_var_secinfo);
	case 17 /* DECL_TAG */: return 4;
	case 19 /* ENUM64 */: return (size_t)vlen * 12;
	default: return 0; /* PTR, FWD, TYPEDEF, VOLATILE, CONST, RESTRICT, FUNC, FLOAT, TYPE_TAG */
	}
}

static const char *btf_str(const struct btf_view *b, uint32_t off)
{
	return off < b->strs_len ? (const char *)b->strs + off : "";
}

static const struct btf_type *btf_get(const struct btf_view *b, uint32_t id)
{
	return id && id < b->n ? b->by_id[id] : NULL;
}

static const struct btf_type *btf_skip_mods(const struct btf_view *b, uint32_t id)
{
	const struct btf_type *t = btf_get(b, id);

	for (int i = 0; t && i < 16; i++) {
		int k = BTF_INFO_KIND(t->info);

		if (k != BTF_KIND_TYPEDEF && k != BTF_KIND_VOLATILE && k != BTF_KIND_CONST && k != BTF_KIND_RESTRICT)
			break;
		t = btf_get(b, t->type);
	}
	return t;
}

static int64_t btf_size(const struct btf_view *b, uint32_t id)
{
	const struct btf_type *t = btf_skip_mods(b, id);

	if (!t)
		return -1;
	switch (BTF_INFO_KIND(t->info)) {
	case BTF_KIND_INT:
	case BTF_KIND_STRUCT:
	case BTF_KIND_UNION:
	case BTF_KIND_ENUM:
	case 19:
		return t->size;
	case BTF_KIND_PTR:
		return sizeof(void *);
	case BTF_KIND_ARRAY: {
		const struct btf_array *a = (const void *)(t + 1);
		int64_t e = btf_size(b, a->type);

		return e < 0 ? -1 : e * a->nelems;
	}
	default:
		return -1;
	}
}

/* `__uint(name, N)` is encoded as a pointer to an array of N elements. */
static int64_t btf_uint_member(const struct btf_view *b, uint32_t type)
{
	const struct btf_type *p = btf_get(b, type), *arr;

	if (!p || BTF_INFO_KIND(p->info) != BTF_KIND_PTR)
		return -1;
	arr = btf_get(b, p->type);
	if (!arr || BTF_INFO_KIND(arr->info) != BTF_KIND_ARRAY)
		return -1;
	return ((const struct btf_array *)(arr + 1))->nelems;
}

static int btf_open(struct bpf_obj *o, struct btf_view *b)
{
	int s = find_sec(o, ".BTF");
	const Elf64_Shdr *sh;
	const struct btf_header *h;
	uint32_t off = 0, count = 0;

	memset(b, 0, sizeof(*b));
	if (s < 0)
		return fail(o, "no .BTF section: compile the BPF objects with -g (maps are BTF-defined)");
	sh = shdr(o, (unsigned int)s);
	h = (const void *)(o->buf + sh->sh_offset);
	if (!in_file(o, sh->sh_offset, sh->sh_size) || sh->sh_size < sizeof(*h) || h->magic != BTF_MAGIC ||
	    (uint64_t)h->hdr_len + h->type_off + h->type_len > sh->sh_size ||
	    (uint64_t)h->hdr_len + h->str_off + h->str_len > sh->sh_size)
		return fail(o, "malformed .BTF section");
	b->types = (const uint8_t *)h + h->hdr_len + h->type_off;
	b->types_len = h->type_len;
	b->strs = (const uint8_t *)h + h->hdr_len + h->str_off;
	b->strs_len = h->str_len;
	/* two passes: count, then index (type ids start at 1) */
	for (int pass = 0; pass < 2; pass++) {
		off = 0;
		count = 1;
		while (off + sizeof(struct btf_type) <= b->types_len) {
			const struct btf_type *t = (const void *)(b->types + off);

			if (pass)
				b->by_id[count] = t;
			count++;
			off += sizeof(*t) + (uint32_t)btf_extra(t);
		}
		if (!pass) {
			b->by_id = calloc(count, sizeof(*b->by_id));
			if (!b->by_id)
				return fail(o, "out of memory");
			b->n = count;
		}
	}
	return 0;
}

static int parse_maps(struct bpf_obj *o)
{
	struct btf_view b;
	int rc = -1;

	if (find_sec(o, ".maps") < 0)
		return 0; /* an object without maps */
	if (btf_open(o, &b))
		return -1;
	for (uint32_t id = 1; id < b.n; id++) {
		const struct btf_type *ds = b.by_id[id];
		const struct btf_var_secinfo *vs;

		if (BTF_INFO_KIND(ds->info) != BTF_KIND_DATASEC || strcmp(btf_str(&b, ds->name_off), ".maps"))
			continue;
		vs = (const void *)(ds + 1);
		for (uint16_t i = 0; i < BTF_INFO_VLEN(ds->info); i++) {
			const struct btf_type *var = btf_get(&b, vs[i].type), *def;
			const struct btf_member *m;
			struct bpf_obj_map *map;

			if (!var || BTF_INFO_KIND(var->info) != BTF_KIND_VAR)
				continue;
			def = btf_skip_mods(&b, var->type);
			if (!def || BTF_INFO_KIND(def->info) != BTF_KIND_STRUCT) {
				fail(o, "map %s: definition is not a struct", btf_str(&b, var->name_off));
				goto out;
			}
			if (o->nmaps >= BPF_OBJ_MAX_MAPS) {
				fail(o, "too many maps");
				goto out;
			}
			map = &o->maps[o->nmaps++];
			memset(map, 0, sizeof(*map));
			map->fd = -1;
			map->sec_off = vs[i].offset;
			map->sec_size = vs[i].size;
			snprintf(map->name, sizeof(map->name), "%s", btf_str(&b, var->name_off));
			m = (const void *)(def + 1);
			for (uint16_t k = 0; k < BTF_INFO_VLEN(def->info); k++) {
				const char *n = btf_str(&b, m[k].name_off);
				int64_t v = -1;

				if (!strcmp(n, "values")) {
					/* `__array(values, ...)`: entries filled from .rel.maps after loading */
					map->has_values = 1;
					map->values_off = m[k].offset / 8;
					continue;
				}
				if (!strcmp(n, "key") || !strcmp(n, "value")) {
					const struct btf_type *p = btf_get(&b, m[k].type);

					v = p && BTF_INFO_KIND(p->info) == BTF_KIND_PTR ? btf_size(&b, p->type) : -1;
				} else {
					v = btf_uint_member(&b, m[k].type);
				}
				if (v < 0) {
					fail(o, "map %s: cannot read member %s", map->name, n);
					goto out;
				}
				if (!strcmp(n, "type"))
					map->type = (uint32_t)v;
				else if (!strcmp(n, "max_entries"))
					map->max_entries = (uint32_t)v;
				else if (!strcmp(n, "map_flags"))
					map->flags = (uint32_t)v;
				else if (!strcmp(n, "key") || !strcmp(n, "key_size"))
					map->key_size = (uint32_t)v;
				else if (!strcmp(n, "value") || !strcmp(n, "value_size"))
					map->value_size = (uint32_t)v;
				else {
					fail(o, "map %s: member %s is not supported by this loader", map->name, n);
					goto out;
				}
			}
			/* a program array's values are program fds */
			if (map->has_values && !map->value_size)
				map->value_size = 4;
		}
	}
	rc = 0;
out:
	free(b.by_id);
	return rc;
}

/* Global data: one single-entry array map per section, as libbpf makes them. */
static int parse_data(struct bpf_obj *o)
{
	static const char *const secs[] = { ".data", ".rodata" };

	for (unsigned int k = 0; k < sizeof(secs) / sizeof(secs[0]); k++) {
		int i = find_sec(o, secs[k]);
		struct bpf_obj_map *map;

		if (i < 0 || !shdr(o, (unsigned int)i)->sh_size)
			continue;
		if (o->nmaps >= BPF_OBJ_MAX_MAPS)
			return fail(o, "too many maps");
		map = &o->maps[o->nmaps++];
		memset(map, 0, sizeof(*map));
		map->fd = -1;
		snprintf(map->name, sizeof(map->name), "%s", secs[k]);
		map->type = BPF_MAP_TYPE_ARRAY;
		map->key_size = 4;
		map->value_size = (uint32_t)shdr(o, (unsigned int)i)->sh_size;
		map->max_entries = 1;
		map->flags = k == 1 ? BPF_F_RDONLY_PROG : 0;
		map->data_sec = (unsigned int)i;
	}
	return 0;
}

static int parse_progs(struct bpf_obj *o)
{
	int symtab = -1;

	for (unsigned int i = 1; i < ehdr(o)->e_shnum; i++)
		if (shdr(o, i)->sh_type == SHT_SYMTAB)
			symtab = (int)i;
	if (symtab < 0)
		return fail(o, "no symbol table");
	const Elf64_Shdr *st = shdr(o, (unsigned int)symtab);
	const Elf64_Shdr *strs = shdr(o, st->sh_link);
	const Elf64_Sym *syms = (const void *)(o->buf + st->sh_offset);
	size_t n = st->sh_size / sizeof(Elf64_Sym);

	for (size_t i = 0; i < n; i++) {
		const Elf64_Sym *s = &syms[i];
		const Elf64_Shdr *sec;
		struct bpf_obj_prog *p;

		if (ELF64_ST_TYPE(s->st_info) != STT_FUNC || ELF64_ST_BIND(s->st_info) != STB_GLOBAL)
			continue;
		if (s->st_shndx == SHN_UNDEF || s->st_shndx >= ehdr(o)->e_shnum)
			continue;
		sec = shdr(o, s->st_shndx);
		if (!(sec->sh_flags & SHF_EXECINSTR) || s->st_value + s->st_size > sec->sh_size || s->st_size % 8)
			return fail(o, "program symbol %u lies outside its section", (unsigned int)i);
		if (o->nprogs >= BPF_OBJ_MAX_PROGS)
			return fail(o, "too many programs");
		p = &o->progs[o->nprogs++];
		snprintf(p->name, sizeof(p->name), "%s", (const char *)o->buf + strs->sh_offset + s->st_name);
		p->sec = s->st_shndx;
		p->off = s->st_value;
		p->size = s->st_size;
		p->fd = -1;
	}
	return o->nprogs ? 0 : fail(o, "no programs in the object");
}

int bpf_obj_open(struct bpf_obj *o, const char *path)
{
	FILE *f;
	long n;
	const union { uint16_t u; uint8_t b[2]; } probe = { .u = 1 };
	int license;

	memset(o, 0, sizeof(*o));
	f = fopen(path, "rb");
	if (!f)
		return fail(o, "cannot open %s: %s", path, strerror(errno));
	if (fseek(f, 0, SEEK_END) || (n = ftell(f)) < (long)sizeof(Elf64_Ehdr) || fseek(f, 0, SEEK_SET)) {
		fclose(f);
		return fail(o, "%s is not a BPF object", path);
	}
	o->buf = malloc((size_t)n);
	o->len = (size_t)n;
	if (!o->buf || fread(o->buf, 1, o->len, f) != o->len) {
		fclose(f);
		return fail(o, "cannot read %s", path);
	}
	fclose(f);
	if (memcmp(o->buf, ELFMAG, SELFMAG) || o->buf[EI_CLASS] != ELFCLASS64 || ehdr(o)->e_machine != EM_BPF)
		return fail(o, "%s is not a BPF ELF object", path);
	if ((o->buf[EI_DATA] == ELFDATA2MSB) != (probe.b[0] == 0))
		return fail(o, "%s is %s-endian BPF but this CPU is %s-endian: build it for this target", path,
			    o->buf[EI_DATA] == ELFDATA2MSB ? "big" : "little", probe.b[0] ? "little" : "big");
	if (!in_file(o, ehdr(o)->e_shoff, (uint64_t)ehdr(o)->e_shnum * ehdr(o)->e_shentsize) ||
	    ehdr(o)->e_shentsize != sizeof(Elf64_Shdr) || ehdr(o)->e_shstrndx >= ehdr(o)->e_shnum)
		return fail(o, "%s: malformed section table", path);
	for (unsigned int i = 1; i < ehdr(o)->e_shnum; i++)
		if (shdr(o, i)->sh_type != SHT_NOBITS && !in_file(o, shdr(o, i)->sh_offset, shdr(o, i)->sh_size))
			return fail(o, "%s: section %u lies outside the file", path, i);
	license = find_sec(o, "license");
	snprintf(o->license, sizeof(o->license), "%s",
		 license > 0 ? (const char *)o->buf + shdr(o, (unsigned int)license)->sh_offset : "");
	if (parse_maps(o) || parse_data(o) || parse_progs(o))
		return -1;
	return 0;
}

static const Elf64_Sym *symbols(const struct bpf_obj *o, size_t *n, const char **strs)
{
	for (unsigned int i = 1; i < ehdr(o)->e_shnum; i++) {
		const Elf64_Shdr *st = shdr(o, i);

		if (st->sh_type != SHT_SYMTAB)
			continue;
		*n = st->sh_size / sizeof(Elf64_Sym);
		*strs = (const char *)o->buf + shdr(o, st->sh_link)->sh_offset;
		return (const Elf64_Sym *)(o->buf + st->sh_offset);
	}
	*n = 0;
	return NULL;
}

int bpf_obj_set_global(struct bpf_obj *o, const char *name, const void *value, size_t size)
{
	size_t n;
	const char *strs;
	const Elf64_Sym *syms = symbols(o, &n, &strs);

	for (size_t i = 0; i < n; i++) {
		const Elf64_Sym *s = &syms[i];
		const Elf64_Shdr *sec;

		if (ELF64_ST_TYPE(s->st_info) != STT_OBJECT || strcmp(strs + s->st_name, name) ||
		    s->st_shndx == SHN_UNDEF || s->st_shndx >= ehdr(o)->e_shnum)
			continue;
		sec = shdr(o, s->st_shndx);
		if (s->st_size != size || s->st_value + size > sec->sh_size || sec->sh_type == SHT_NOBITS)
			return -1;
		memcpy(o->buf + sec->sh_offset + s->st_value, value, size);
		return 0;
	}
	return -1;
}

struct bpf_obj_map *bpf_obj_map(struct bpf_obj *o, const char *name)
{
	for (int i = 0; i < o->nmaps; i++)
		if (!strcmp(o->maps[i].name, name))
			return &o->maps[i];
	return NULL;
}

int bpf_obj_prog_fd(const struct bpf_obj *o, const char *name)
{
	for (int i = 0; i < o->nprogs; i++)
		if (!strcmp(o->progs[i].name, name))
			return o->progs[i].fd;
	return -1;
}

static int open_map(struct bpf_obj *o, struct bpf_obj_map *m, const char *pin_dir)
{
	char path[256];
	struct bpf_map_info info;

	/* global data and program arrays belong to this load's programs: never kept in a pin */
	if (m->data_sec || m->type == BPF_MAP_TYPE_PROG_ARRAY)
		pin_dir = NULL;
	if (pin_dir) {
		snprintf(path, sizeof(path), "%s/%s", pin_dir, m->name);
		m->fd = bpf_get_pinned(path);
		if (m->fd >= 0) {
			if (bpf_obj_info(m->fd, &info, sizeof(info)) == 0 && info.type == m->type && info.key_size == m->key_size &&
			    info.value_size == m->value_size && info.max_entries == m->max_entries) {
				m->reused = 1;
				return 0;
			}
			/* A pin from another layout (an older toolkit): replace it. */
			close(m->fd);
			unlink(path);
		}
	}
	m->fd = bpf_map_create_fd(m->type, m->name, m->key_size, m->value_size, m->max_entries, m->flags);
	if (m->fd < 0)
		return fail(o, "creating map %s: %s", m->name, strerror(errno));
	if (m->data_sec) {
		uint32_t zero = 0;

		if (bpf_map_update(m->fd, &zero, o->buf + shdr(o, m->data_sec)->sh_offset, 0) ||
		    ((m->flags & BPF_F_RDONLY_PROG) && bpf_map_freeze(m->fd)))
			return fail(o, "filling map %s: %s", m->name, strerror(errno));
	}
	if (pin_dir && bpf_pin(m->fd, path))
		return fail(o, "pinning map %s at %s: %s (is a bpf file system mounted there?)", m->name, path,
			    strerror(errno));
	return 0;
}

/* Points every map reference of a program at the map's fd. */
static int relocate(struct bpf_obj *o, struct bpf_obj_prog *p, struct bpf_insn *insns)
{
	int maps_sec = find_sec(o, ".maps");
	int symtab = -1;

	for (unsigned int i = 1; i < ehdr(o)->e_shnum; i++)
		if (shdr(o, i)->sh_type == SHT_SYMTAB)
			symtab = (int)i;
	for (unsigned int i = 1; i < ehdr(o)->e_shnum; i++) {
		const Elf64_Shdr *rs = shdr(o, i);
		const Elf64_Rel *rel = (const void *)(o->buf + rs->sh_offset);

		if (rs->sh_type != SHT_REL || rs->sh_info != p->sec)
			continue;
		for (size_t k = 0; k < rs->sh_size / sizeof(*rel); k++) {
			const Elf64_Sym *sym = (const Elf64_Sym *)(o->buf + shdr(o, (unsigned int)symtab)->sh_offset) +
					       ELF64_R_SYM(rel[k].r_info);
			uint64_t at = rel[k].r_offset;
			struct bpf_obj_map *m = NULL;

			if (at < p->off || at >= p->off + p->size)
				continue;
			if ((int)sym->st_shndx != maps_sec) {
				struct bpf_insn *insn = &insns[(at - p->off) / 8];

				for (int d = 0; d < o->nmaps && !m; d++)
					if (o->maps[d].data_sec && o->maps[d].data_sec == sym->st_shndx)
						m = &o->maps[d];
				if (!m)
					return fail(o, "program %s: relocation against section %u is not supported (only maps and global data)",
						    p->name, sym->st_shndx);
				if (insn->code != (BPF_LD | BPF_IMM | BPF_DW) || at + 16 > p->off + p->size)
					return fail(o, "program %s: data relocation on a non-lddw instruction", p->name);
				/* an address inside the map's value: section offset of the symbol plus the addend */
				insn[1].imm = insn->imm + (int32_t)sym->st_value;
				insn->src_reg = BPF_PSEUDO_MAP_VALUE;
				insn->imm = m->fd;
				continue;
			}
			/* By name: clang leaves .maps offsets in BTF for the linker to fill in. */
			m = bpf_obj_map(o, (const char *)o->buf + shdr(o, shdr(o, (unsigned int)symtab)->sh_link)->sh_offset +
						   sym->st_name);
			if (!m)
				return fail(o, "program %s: reference to an unknown map", p->name);
			struct bpf_insn *insn = &insns[(at - p->off) / 8];

			if (insn->code != (BPF_LD | BPF_IMM | BPF_DW))
				return fail(o, "program %s: map relocation on a non-lddw instruction", p->name);
			insn->src_reg = BPF_PSEUDO_MAP_FD;
			insn->imm = m->fd;
		}
	}
	return 0;
}

/*
 * The initial entries of program arrays (`.values = { [i] = &prog }`): relocations in .rel.maps
 * against programs. Calls fn for each with the map, the entry and the program's name; stops at
 * the first nonzero return.
 */
static int map_values(struct bpf_obj *o, int (*fn)(struct bpf_obj *, struct bpf_obj_map *, uint32_t, const char *, void *),
		      void *arg)
{
	int maps_sec = find_sec(o, ".maps");
	size_t nsyms;
	const char *strs;
	const Elf64_Sym *syms = symbols(o, &nsyms, &strs);

	if (maps_sec < 0)
		return 0;
	for (unsigned int i = 1; i < ehdr(o)->e_shnum; i++) {
		const Elf64_Shdr *rs = shdr(o, i);
		const Elf64_Rel *rel = (const void *)(o->buf + rs->sh_offset);

		if (rs->sh_type != SHT_REL || (int)rs->sh_info != maps_sec)
			continue;
		for (size_t k = 0; k < rs->sh_size / sizeof(*rel); k++) {
			uint64_t at = rel[k].r_offset;
			struct bpf_obj_map *m = NULL;
			int rc;

			if (ELF64_R_SYM(rel[k].r_info) >= nsyms)
				return fail(o, ".rel.maps: a relocation against no symbol");
			for (int d = 0; d < o->nmaps && !m; d++)
				if (!o->maps[d].data_sec && at >= o->maps[d].sec_off && at < (uint64_t)o->maps[d].sec_off + o->maps[d].sec_size)
					m = &o->maps[d];
			if (!m || !m->has_values || at < (uint64_t)m->sec_off + m->values_off || (at - m->sec_off - m->values_off) % 8)
				return fail(o, ".rel.maps: a relocation outside any map's values");
			rc = fn(o, m, (uint32_t)((at - m->sec_off - m->values_off) / 8), strs + syms[ELF64_R_SYM(rel[k].r_info)].st_name, arg);
			if (rc)
				return rc;
		}
	}
	return 0;
}

static int is_named(struct bpf_obj *o, struct bpf_obj_map *m, uint32_t slot, const char *prog, void *name)
{
	(void)o, (void)m, (void)slot;
	return !strcmp(prog, (const char *)name);
}

static int wanted(struct bpf_obj *o, const char *name, const char *const *progs)
{
	if (!progs)
		return 1;
	for (; *progs; progs++)
		if (!strcmp(*progs, name))
			return 1;
	/* a tail call's target goes with the programs that call it */
	return map_values(o, is_named, (void *)name) > 0;
}

static int put_value(struct bpf_obj *o, struct bpf_obj_map *m, uint32_t slot, const char *prog, void *arg)
{
	int fd = bpf_obj_prog_fd(o, prog);

	(void)arg;
	if (fd < 0)
		return fail(o, "map %s: its entry %u names program %s, which is not in the object", m->name, slot, prog);
	if (slot >= m->max_entries || bpf_map_update(m->fd, &slot, &fd, 0))
		return fail(o, "map %s: entry %u: %s", m->name, slot, strerror(errno));
	return 0;
}

int bpf_obj_load(struct bpf_obj *o, const char *pin_dir, const char *const *progs)
{
	static char log[64 * 1024];

	for (int i = 0; progs && progs[i]; i++) {
		int found = 0;

		for (int k = 0; k < o->nprogs; k++)
			found |= !strcmp(o->progs[k].name, progs[i]);
		if (!found)
			return fail(o, "the object has no program %s (built from older sources?)", progs[i]);
	}
	for (int i = 0; i < o->nmaps; i++)
		if (open_map(o, &o->maps[i], pin_dir))
			return -1;
	for (int i = 0; i < o->nprogs; i++) {
		struct bpf_obj_prog *p = &o->progs[i];
		size_t cnt = p->size / 8;
		struct bpf_insn *insns;

		if (!wanted(o, p->name, progs))
			continue;
		insns = malloc(p->size);

		if (!insns)
			return fail(o, "out of memory");
		memcpy(insns, o->buf + shdr(o, p->sec)->sh_offset + p->off, p->size);
		if (relocate(o, p, insns)) {
			free(insns);
			return -1;
		}
		p->fd = bpf_prog_load_fd(BPF_PROG_TYPE_SCHED_CLS, p->name, insns, cnt, o->license, log, sizeof(log));
		free(insns);
		if (p->fd < 0) {
			size_t l = strlen(log);

			return fail(o, "loading program %s: %s; verifier: %.300s", p->name, strerror(errno),
				    l > 300 ? log + l - 300 : log);
		}
	}
	return map_values(o, put_value, NULL) ? -1 : 0;
}

int bpf_obj_loaded(const struct bpf_obj *o)
{
	int n = 0;

	for (int i = 0; i < o->nprogs; i++)
		n += o->progs[i].fd >= 0;
	return n;
}

int bpf_obj_jited(const struct bpf_obj *o)
{
	struct bpf_prog_info info;
	int n = 0;

	for (int i = 0; i < o->nprogs; i++)
		if (o->progs[i].fd >= 0 && bpf_obj_info(o->progs[i].fd, &info, sizeof(info)) == 0 && info.jited_prog_len > 0)
			n++;
	return n;
}

void bpf_obj_close(struct bpf_obj *o)
{
	for (int i = 0; i < o->nprogs; i++)
		if (o->progs[i].fd >= 0)
			close(o->progs[i].fd);
	for (int i = 0; i < o->nmaps; i++)
		if (o->maps[i].fd >= 0)
			close(o->maps[i].fd);
	free(o->buf);
	o->buf = NULL;
}
