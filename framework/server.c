/* SPDX-License-Identifier: MIT */
/* server.c - the public server API: an engine that listens and responds to handshakes. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"

struct rw_server {
	struct rw_engine e;
};

void rw_server_config_init(struct rw_server_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->listen = "0.0.0.0:0";
}

int rw_server_create(struct rw_server **out, const struct rw_server_config *cfg, char *err, size_t errlen)
{
	struct rw_server *srv;
	int ret;

	if (!out || !cfg)
		return -EINVAL;
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return -ENOMEM;
	ret = rw__engine_init(&srv->e,
			      &(struct rw_engine_config){
				      .server = true,
				      .listen = cfg->listen ? cfg->listen : "0.0.0.0:0",
				      .reactors = cfg->reactors,
				      .timers = &cfg->timers,
				      .max_packet = cfg->max_packet,
				      .max_sessions = cfg->max_sessions,
				      .max_incomplete = cfg->max_incomplete_frames,
				      .max_frame_bytes = cfg->max_frame_bytes,
				      .quiet = cfg->quiet,
			      },
			      err, errlen);
	if (ret) {
		free(srv);
		return ret;
	}
	ret = rw__noise_identity_init(&srv->e.id, cfg->private_key);
	if (ret || rw__is_zero(cfg->private_key, RW_KEY_SIZE)) {
		if (err && errlen)
			snprintf(err, errlen, "no valid private key; generate one with: ringwire-key genkey > server.key");
		rw__engine_destroy(&srv->e);
		free(srv);
		return -EINVAL;
	}
	srv->e.has_id = true;
	srv->e.load_hps = cfg->load_handshakes_per_s ? cfg->load_handshakes_per_s : RW_DEFAULT_LOAD_HPS;
	srv->e.force_cookies = cfg->force_cookies;
	srv->e.source_rate = cfg->source_rate ? cfg->source_rate : RW_DEFAULT_SOURCE_RATE;
	srv->e.source_burst = cfg->source_burst ? cfg->source_burst : RW_DEFAULT_SOURCE_BURST;
	srv->e.authenticate = cfg->authenticate;
	srv->e.auth_user = cfg->auth_user;
	srv->e.reject_silently = cfg->reject_silently;
	srv->e.send_rate = cfg->send_rate_bps;
	if (cfg->allowed_count) {
		srv->e.allowed = malloc(cfg->allowed_count * RW_KEY_SIZE);
		if (!srv->e.allowed) {
			rw__engine_destroy(&srv->e);
			free(srv);
			return -ENOMEM;
		}
		memcpy(srv->e.allowed, cfg->allowed_keys, cfg->allowed_count * RW_KEY_SIZE);
		srv->e.nallowed = cfg->allowed_count;
	}
	ret = rw__engine_set_limits(&srv->e);
	if (ret) {
		rw__engine_destroy(&srv->e);
		free(srv);
		return ret;
	}
	*out = srv;
	return 0;
}

int rw_server_on(struct rw_server *srv, int channel, const struct rw_handler *h)
{
	return rw__engine_on(&srv->e, channel, h);
}

int rw_server_start(struct rw_server *srv)
{
	return rw__engine_start(&srv->e);
}

int rw_server_stop(struct rw_server *srv)
{
	return rw__engine_stop(&srv->e);
}

int rw_server_wait(struct rw_server *srv)
{
	return rw__engine_wait(&srv->e);
}

/*
 * Run until SIGINT/SIGTERM or rw_server_stop. The signals are blocked in
 * this thread (and so in the reactor threads it starts) and read from a
 * signalfd, so no handler runs in an arbitrary context.
 */
int rw__engine_run(struct rw_engine *e)
{
	sigset_t set, old;
	int sfd, ret;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	sfd = signalfd(-1, &set, SFD_CLOEXEC);
	ret = rw__engine_start(e);
	if (!ret) {
		struct pollfd p[2] = { { .fd = sfd, .events = POLLIN }, { .fd = e->stop_fd, .events = POLLIN } };

		while (!atomic_load(&e->stopping)) {
			if (poll(p, 2, -1) < 0 && errno != EINTR)
				break;
			if (p[0].revents & POLLIN)
				break;
		}
		rw__engine_stop(e);
		ret = rw__engine_wait(e);
	}
	/*
	 * Consume what was delivered (and a second signal sent during the
	 * shutdown): restoring the mask with one still pending would let its
	 * default action kill the process before the counters are printed.
	 */
	{
		const struct timespec zero = { 0, 0 };

		while (sigtimedwait(&set, NULL, &zero) > 0)
			;
	}
	if (sfd >= 0)
		close(sfd);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return ret;
}

int rw_server_run(struct rw_server *srv)
{
	return rw__engine_run(&srv->e);
}

void rw_server_destroy(struct rw_server *srv)
{
	if (!srv)
		return;
	rw__engine_destroy(&srv->e);
	free(srv);
}

int rw_server_uri(const struct rw_server *srv, char *out, size_t outlen)
{
	return rw_uri_format(out, outlen, srv->e.id.pub, srv->e.host, srv->e.port);
}

uint16_t rw_server_port(const struct rw_server *srv)
{
	return srv->e.port;
}

void rw_server_stats(const struct rw_server *srv, struct rw_stats *st)
{
	rw__engine_stats(&srv->e, st);
}

int rw_server_send(struct rw_server *srv, uint64_t id, uint8_t channel, uint8_t type, const void *payload,
		   size_t len)
{
	if (channel == RW_CHANNEL_INTERNAL || type == RW_EVENT_CHANNEL_CLOSE)
		return -EINVAL;
	return rw__engine_send(&srv->e, id, channel, type, payload, len);
}

int rw_server_broadcast(struct rw_server *srv, uint8_t channel, uint8_t type, const void *payload, size_t len)
{
	if (channel == RW_CHANNEL_INTERNAL || type == RW_EVENT_CHANNEL_CLOSE)
		return -EINVAL;
	return rw__engine_broadcast(&srv->e, channel, type, payload, len);
}

struct rw_engine *rw__server_engine(struct rw_server *srv)
{
	return &srv->e;
}
