/* SPDX-License-Identifier: MIT */
/* portclaim.c - refuse a UDP port another process serves (see portclaim.h). */
#include "portclaim.h"

#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static unsigned port_of(const struct sockaddr *a)
{
	if (a->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)a)->sin6_port);
	return ntohs(((const struct sockaddr_in *)a)->sin_port);
}

/* The socket inode of the first entry bound to port in /proc/net/udp{,6}; 0 if none. */
static unsigned long port_inode(const char *table, unsigned port)
{
	char line[512];
	unsigned long inode = 0;
	FILE *f = fopen(table, "r");

	if (!f)
		return 0;
	if (!fgets(line, sizeof(line), f))	/* the header */
		goto out;
	while (fgets(line, sizeof(line), f)) {
		char local[64];
		unsigned p;
		unsigned long ino;
		char *colon;

		/* sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode */
		if (sscanf(line, "%*s %63s %*s %*s %*s %*s %*s %*s %*s %lu", local, &ino) != 2)
			continue;
		colon = strrchr(local, ':');
		if (!colon || sscanf(colon + 1, "%x", &p) != 1 || p != port)
			continue;
		inode = ino;
		break;
	}
out:
	fclose(f);
	return inode;
}

/* "comm (pid N)" of the process holding socket inode, via /proc/PID/fd. */
static int inode_owner(unsigned long inode, char *who, size_t wholen)
{
	char want[64], path[300], target[64], comm[64];
	DIR *proc = opendir("/proc");
	struct dirent *p;
	int found = 0;

	if (!proc)
		return 0;
	snprintf(want, sizeof(want), "socket:[%lu]", inode);
	while (!found && (p = readdir(proc))) {
		DIR *fds;
		struct dirent *fd;
		char *end;
		long pid = strtol(p->d_name, &end, 10);

		if (*end || pid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/fd", pid);
		fds = opendir(path);
		if (!fds)
			continue;
		while ((fd = readdir(fds))) {
			ssize_t n;

			snprintf(path, sizeof(path), "/proc/%ld/fd/%s", pid, fd->d_name);
			n = readlink(path, target, sizeof(target) - 1);
			if (n <= 0)
				continue;
			target[n] = 0;
			if (strcmp(target, want) == 0) {
				found = 1;
				break;
			}
		}
		closedir(fds);
		if (found) {
			FILE *f;

			snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
			comm[0] = 0;
			f = fopen(path, "r");
			if (f) {
				if (fgets(comm, sizeof(comm), f))
					comm[strcspn(comm, "\n")] = 0;
				fclose(f);
			}
			snprintf(who, wholen, "%s (pid %ld)", comm[0] ? comm : "a process", pid);
		}
	}
	closedir(proc);
	return found;
}

int rw__port_claim_check(const struct sockaddr *addr, socklen_t len, char *who, size_t wholen)
{
	unsigned port = port_of(addr);

	if (wholen)
		who[0] = 0;
	if (!port)
		return 0;
	/*
	 * A server that just exited leaves its sockets to io_uring's deferred
	 * teardown for a moment (~0.1 s here): held, but by no process. Give
	 * such a port up to 2 s before calling it taken, so a restart works.
	 */
	for (int tries = 0;; tries++) {
		const struct timespec pause = { 0, 100 * 1000 * 1000 };
		unsigned long inode;
		int fd, ret = 0;

		fd = socket(addr->sa_family, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP);
		if (fd < 0)
			return -errno;
		/* as the server's own [::] socket: dual-stack, so a holder of 0.0.0.0 shows too */
		if (addr->sa_family == AF_INET6)
			(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &(int){ 0 }, sizeof(int));
		if (bind(fd, addr, len) < 0)
			ret = -errno;
		close(fd);
		if (ret != -EADDRINUSE)
			return ret;
		inode = port_inode("/proc/net/udp", port);
		if (!inode)
			inode = port_inode("/proc/net/udp6", port);
		if (inode && inode_owner(inode, who, wholen))
			return -EADDRINUSE;
		if (tries == 20) {
			snprintf(who, wholen, "another process");
			return -EADDRINUSE;
		}
		nanosleep(&pause, NULL);
	}
}
