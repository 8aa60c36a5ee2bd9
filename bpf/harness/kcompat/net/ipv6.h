/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The kernel's internal net/ipv6.h: the programs bench:bpf compares use only the exported
 * linux/ipv6.h layouts, which the includer already has. See ../kcompat.h. */
#include <linux/ipv6.h>
