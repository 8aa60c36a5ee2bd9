/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/netlink.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include "tc_attach.h"

#ifndef TC_H_CLSACT
#define TC_H_CLSACT TC_H_INGRESS
#endif
#ifndef TC_H_MIN_INGRESS
#define TC_H_MIN_INGRESS 0xFFF2U
#define TC_H_MIN_EGRESS 0xFFF3U
#endif

struct req {
	struct nlmsghdr n;
	struct tcmsg t;
	char buf[512];
};

static void add_attr(struct nlmsghdr *n, unsigned short type, const void *data, size_t len)
{
	struct rtattr *a = (struct rtattr *)((char *)n + NLMSG_ALIGN(n->nlmsg_len));

	a->rta_type = type;
	a->rta_len = (unsigned short)RTA_LENGTH(len);
	if (len)
		memcpy(RTA_DATA(a), data, len);
	n->nlmsg_len = NLMSG_ALIGN(n->nlmsg_len) + RTA_ALIGN(a->rta_len);
}

static struct rtattr *nest_begin(struct nlmsghdr *n, unsigned short type)
{
	struct rtattr *a = (struct rtattr *)((char *)n + NLMSG_ALIGN(n->nlmsg_len));

	add_attr(n, type, NULL, 0);
	return a;
}

static void nest_end(struct nlmsghdr *n, struct rtattr *a)
{
	a->rta_len = (unsigned short)((char *)n + n->nlmsg_len - (char *)a);
}

/* Sends one request and waits for its acknowledgement; returns 0 or -errno. */
static int talk(struct req *r)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	char buf[8192];
	int fd, rc = -EIO;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	r->n.nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	r->n.nlmsg_seq = 1;
	if (sendto(fd, r, r->n.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		goto out;
	}
	for (;;) {
		ssize_t len = recv(fd, buf, sizeof(buf), 0);
		struct nlmsghdr *h;

		if (len < 0) {
			rc = -errno;
			goto out;
		}
		for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, (unsigned int)len); h = NLMSG_NEXT(h, len)) {
			if (h->nlmsg_type == NLMSG_ERROR) {
				rc = ((struct nlmsgerr *)NLMSG_DATA(h))->error;
				goto out;
			}
			if (h->nlmsg_type == NLMSG_DONE) {
				rc = 0;
				goto out;
			}
		}
	}
out:
	close(fd);
	return rc;
}

static void init(struct req *r, unsigned short type, unsigned short flags, int ifindex)
{
	memset(r, 0, sizeof(*r));
	r->n.nlmsg_len = NLMSG_LENGTH(sizeof(struct tcmsg));
	r->n.nlmsg_type = type;
	r->n.nlmsg_flags = flags;
	r->t.tcm_family = AF_UNSPEC;
	r->t.tcm_ifindex = ifindex;
}

int tc_clsact_ensure(int ifindex, int *created, char *err, size_t errlen)
{
	struct req r;
	int rc;

	init(&r, RTM_NEWQDISC, NLM_F_CREATE | NLM_F_EXCL, ifindex);
	r.t.tcm_handle = TC_H_MAKE(TC_H_CLSACT, 0);
	r.t.tcm_parent = TC_H_CLSACT;
	add_attr(&r.n, TCA_KIND, "clsact", sizeof("clsact"));
	rc = talk(&r);
	*created = rc == 0;
	if (rc == -EEXIST)
		rc = 0;
	if (rc)
		snprintf(err, errlen, "adding clsact qdisc: %s (is sch_ingress/clsact in the kernel?)", strerror(-rc));
	return rc;
}

int tc_clsact_delete(int ifindex, char *err, size_t errlen)
{
	struct req r;
	int rc;

	init(&r, RTM_DELQDISC, 0, ifindex);
	r.t.tcm_handle = TC_H_MAKE(TC_H_CLSACT, 0);
	r.t.tcm_parent = TC_H_CLSACT;
	add_attr(&r.n, TCA_KIND, "clsact", sizeof("clsact"));
	rc = talk(&r);
	if (rc == -ENOENT || rc == -EINVAL)
		rc = 0;
	if (rc)
		snprintf(err, errlen, "deleting clsact qdisc: %s", strerror(-rc));
	return rc;
}

static void filter_msg(struct req *r, unsigned short type, unsigned short flags, int ifindex, enum tc_hook hook)
{
	init(r, type, flags, ifindex);
	r->t.tcm_parent = TC_H_MAKE(TC_H_CLSACT, hook == TC_HOOK_INGRESS ? TC_H_MIN_INGRESS : TC_H_MIN_EGRESS);
	r->t.tcm_handle = FW_TC_HANDLE;
	r->t.tcm_info = TC_H_MAKE((uint32_t)FW_TC_PRIO << 16, htons(ETH_P_ALL));
	add_attr(&r->n, TCA_KIND, "bpf", sizeof("bpf"));
}

int tc_filter_attach(int ifindex, enum tc_hook hook, int prog_fd, const char *name, char *err, size_t errlen)
{
	struct req r;
	struct rtattr *opts;
	uint32_t fd = (uint32_t)prog_fd, flags = TCA_BPF_FLAG_ACT_DIRECT;
	int rc;

	filter_msg(&r, RTM_NEWTFILTER, NLM_F_CREATE | NLM_F_REPLACE, ifindex, hook);
	opts = nest_begin(&r.n, TCA_OPTIONS);
	add_attr(&r.n, TCA_BPF_FD, &fd, sizeof(fd));
	add_attr(&r.n, TCA_BPF_NAME, name, strlen(name) + 1);
	add_attr(&r.n, TCA_BPF_FLAGS, &flags, sizeof(flags));
	nest_end(&r.n, opts);
	rc = talk(&r);
	if (rc)
		snprintf(err, errlen, "attaching %s at %s: %s (is cls_bpf in the kernel?)", name,
			 hook == TC_HOOK_INGRESS ? "ingress" : "egress", strerror(-rc));
	return rc;
}

int tc_filter_detach(int ifindex, enum tc_hook hook, char *err, size_t errlen)
{
	struct req r;
	int rc;

	filter_msg(&r, RTM_DELTFILTER, 0, ifindex, hook);
	rc = talk(&r);
	if (rc == -ENOENT || rc == -EINVAL || rc == -ENODEV)
		rc = 0; /* already gone, or the interface went away with it */
	if (rc)
		snprintf(err, errlen, "detaching from %s: %s", hook == TC_HOOK_INGRESS ? "ingress" : "egress",
			 strerror(-rc));
	return rc;
}

