/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What other projects' TC programs take from the kernel's internal headers, for bench:bpf's
 * side-by-side runs (bench/bpf-extractor.ts --compare). OpenWrt compiles them against a kernel
 * tree (include/bpf.mk, -D__KERNEL__); a build machine has only the exported (uapi) headers,
 * so this file gives the few internal names they use. Force-included (-include kcompat.h);
 * `uapi/linux/X.h` resolves to the exported linux/X.h through a link the Makefile makes.
 * Our own programs never include it.
 */
#ifndef FW_KCOMPAT_H
#define FW_KCOMPAT_H

#include <stdbool.h>
#include <linux/types.h>

/* the kernel's names for the exported types; libc's stdint.h would pull in a 32-bit host's
 * headers for -target bpf */
typedef __u8 u8;
typedef __u16 u16;
typedef __u32 u32;
typedef __u64 u64;
typedef __u8 uint8_t;
typedef __u16 uint16_t;
typedef __u32 uint32_t;
typedef __u64 uint64_t;

/* one volatile access, as the kernel's, so the compiler cannot split or repeat the read */
#define READ_ONCE(x) (*(const volatile __typeof__(x) *)&(x))
#define GENMASK(h, l) (((~0UL) << (l)) & (~0UL >> (sizeof(long) * 8 - 1 - (h))))
#ifndef memset
#define memset(d, c, n) __builtin_memset((d), (c), (n))
#endif

/* include/linux/if_vlan.h (internal; the exported one has no header layout) */
struct vlan_hdr {
	__be16 h_vlan_TCI;
	__be16 h_vlan_encapsulated_proto;
};

#endif
