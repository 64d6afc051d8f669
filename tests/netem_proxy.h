/* SPDX-License-Identifier: MIT */
/*
 * netem_proxy.h - ringwire-netem as a child process, for the tests of the
 * proxy itself (test_netem.c: datagrams, test_netem_tcp.c: streams): start
 * it, read what it says on stderr, stop it, read its final counters.
 * Include after <cmocka.h>; the test sets `netem` (the binary) in main.
 */
#ifndef RW_TEST_NETEM_PROXY_H
#define RW_TEST_NETEM_PROXY_H

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "wait.h"

static const char *netem;

struct proxy {
	pid_t pid;
	int errfd;
	uint16_t port;
	uint64_t ready_ms;	/* when its "listening on" line arrived */
	char log[16384];
	size_t loglen;
};

/* Append what is readable on the proxy's stderr within ms; false at EOF. */
static bool slurp(struct proxy *px, int ms)
{
	struct pollfd p = { .fd = px->errfd, .events = POLLIN };
	ssize_t n;

	if (poll(&p, 1, ms) <= 0)
		return true;
	if (px->loglen + 1 >= sizeof(px->log))
		px->loglen = 0;	/* only the newest lines matter */
	n = read(px->errfd, px->log + px->loglen, sizeof(px->log) - 1 - px->loglen);
	if (n <= 0)
		return false;
	px->loglen += (size_t)n;
	px->log[px->loglen] = '\0';
	return true;
}

/*
 * ringwire-netem [--tcp] --listen 127.0.0.1:0 --upstream 127.0.0.1:UPSTREAM
 * --duration BACKSTOP_S KNOBS..., until it says where it listens. knobs:
 * NULL-terminated. The duration is a backstop only: each test ends its proxy
 * with proxy_stop.
 */
static void proxy_run(struct proxy *px, bool tcp, const char *backstop_s, uint16_t upstream,
		      const char *const *knobs)
{
	char up[32];
	const char *argv[64];
	int n = 0, pfd[2];
	uint64_t deadline;
	const char *l;

	memset(px, 0, sizeof(*px));
	snprintf(up, sizeof(up), "127.0.0.1:%u", upstream);
	argv[n++] = netem;
	if (tcp)
		argv[n++] = "--tcp";
	argv[n++] = "--listen";
	argv[n++] = "127.0.0.1:0";
	argv[n++] = "--upstream";
	argv[n++] = up;
	argv[n++] = "--duration";
	argv[n++] = backstop_s;
	for (; knobs && *knobs && n < 63; knobs++)
		argv[n++] = *knobs;
	argv[n] = NULL;

	assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
	px->pid = fork();
	assert_true(px->pid >= 0);
	if (!px->pid) {
		dup2(pfd[1], 2);
		execv(netem, (char *const *)argv);
		_exit(127);
	}
	close(pfd[1]);
	px->errfd = pfd[0];
	deadline = now_ms() + 5000;
	while (!(l = strstr(px->log, "listening on 127.0.0.1:"))) {
		if (now_ms() > deadline || !slurp(px, 100))
			fail_msg("no 'listening on' line from %s: %s", netem, px->log);
	}
	px->ready_ms = now_ms();
	px->port = (uint16_t)atoi(l + strlen("listening on 127.0.0.1:"));
	assert_true(px->port > 0);
	if (tcp)
		assert_non_null(strstr(l, "(tcp)"));
}

/* SIGTERM; it must exit 0 with its final counters. */
static void proxy_stop(struct proxy *px)
{
	int st;
	uint64_t deadline = now_ms() + 5000;

	kill(px->pid, SIGTERM);
	while (slurp(px, 100))
		if (now_ms() > deadline)
			fail_msg("proxy did not exit on SIGTERM");
	close(px->errfd);
	assert_int_equal(waitpid(px->pid, &st, 0), px->pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_non_null(strstr(px->log, "ringwire-netem: final up "));
	assert_non_null(strstr(px->log, "ringwire-netem: final down "));
}

/* A counter from the final report, e.g. counter(px, "up", "writes"). */
static unsigned long long counter(const struct proxy *px, const char *dir, const char *name)
{
	char tag[64], key[32];
	const char *l, *v;

	snprintf(tag, sizeof(tag), "ringwire-netem: final %s ", dir);
	snprintf(key, sizeof(key), " %s=", name);
	l = strstr(px->log, tag);
	assert_non_null(l);
	v = strstr(l, key);
	assert_non_null(v);
	assert_true(v < strchr(l, '\n'));
	return strtoull(v + strlen(key), NULL, 10);
}

#endif
