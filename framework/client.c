/* SPDX-License-Identifier: MIT */
/* client.c - the public client API: the same engine, in the initiator role. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "metrics.h"
#include "padding.h"

struct rw_client {
	struct rw_engine e;
	struct rw__metrics *metrics;	/* rw_client_metrics_listen */
};

void rw_client_config_init(struct rw_client_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->reactors = 1;
	cfg->reconnect = 1;
}

static int init_engine(struct rw_engine *e, const struct rw_client_config *cfg, const char *bind, char *err,
		       size_t errlen)
{
	return rw__engine_init(e,
			       &(struct rw_engine_config){
				       .listen = bind,
				       .reactors = cfg->reactors ? cfg->reactors : 1,
				       .timers = &cfg->timers,
				       .max_packet = cfg->max_packet,
				       .max_packet_size = cfg->max_packet_size,
				       .max_sessions = cfg->max_sessions,
				       .max_incomplete = cfg->max_incomplete_frames,
				       .max_frame_bytes = cfg->max_frame_bytes,
				       .quiet = cfg->quiet,
				       .tcp_stall_ms = cfg->tcp_stall_timeout_ms,
			       },
			       err, errlen);
}

int rw_client_create(struct rw_client **out, const struct rw_client_config *cfg, char *err, size_t errlen)
{
	struct rw_client *cli;
	int ret;

	if (!out || !cfg)
		return -EINVAL;
	ret = rw__pad_check(&cfg->padding, err, errlen);
	if (ret)
		return ret;
	cli = calloc(1, sizeof(*cli));
	if (!cli)
		return -ENOMEM;
	/*
	 * By default one dual-stack socket ([::]:0, IPV6_V6ONLY off: IPv4
	 * peers go out v4-mapped), so any URI can be dialled; a host without
	 * IPv6 refuses the socket, and then IPv4 is all there is.
	 */
	ret = init_engine(&cli->e, cfg, cfg->bind ? cfg->bind : "[::]:0", err, errlen);
	if (ret == -EAFNOSUPPORT && !cfg->bind) {
		memset(&cli->e, 0, sizeof(cli->e));
		if (err && errlen)
			err[0] = '\0';
		ret = init_engine(&cli->e, cfg, "0.0.0.0:0", err, errlen);
	}
	if (ret) {
		free(cli);
		return ret;
	}
	cli->e.reconnect = cfg->reconnect;
	cli->e.send_rate = cfg->send_rate_bps;
	cli->e.pad = cfg->padding;
	cli->e.hs_timeout_ms = cfg->handshake_timeout_ms;
	if ((unsigned)cfg->transport > RW_TRANSPORT_AUTO) {
		if (err && errlen)
			snprintf(err, errlen, "transport %d is not one of RW_TRANSPORT_UDP, _TCP, _AUTO", (int)cfg->transport);
		rw__engine_destroy(&cli->e);
		free(cli);
		return -EINVAL;
	}
	cli->e.transport = cfg->transport;
	cli->e.tcp_fallback_ms = cfg->tcp_fallback_ms ? cfg->tcp_fallback_ms : RW_TCP_DEFAULT_FALLBACK_MS;
	if (cfg->has_private_key) {
		ret = rw__noise_identity_init(&cli->e.id, cfg->private_key);
		if (ret || rw__is_zero(cfg->private_key, RW_KEY_SIZE)) {
			if (err && errlen)
				snprintf(err, errlen, "invalid private key; generate one with: ringwire-key genkey");
			rw__engine_destroy(&cli->e);
			free(cli);
			return -EINVAL;
		}
		cli->e.has_id = true;
	}
	*out = cli;
	return 0;
}

int rw_client_on(struct rw_client *cli, int channel, const struct rw_handler *h)
{
	return rw__engine_on(&cli->e, channel, h);
}

int rw_client_start(struct rw_client *cli)
{
	return rw__engine_start(&cli->e);
}

int rw_client_dial(struct rw_client *cli, const char *uri, void *user, uint64_t *id, char *err, size_t errlen)
{
	if (!atomic_load(&cli->e.started)) {
		if (err && errlen)
			snprintf(err, errlen, "start the client before dialling");
		return -ENOTCONN;
	}
	return rw__engine_dial(&cli->e, uri, user, id, err, errlen);
}

int rw_client_stop(struct rw_client *cli)
{
	return rw__engine_stop(&cli->e);
}

int rw_client_wait(struct rw_client *cli)
{
	return rw__engine_wait(&cli->e);
}

void rw_client_destroy(struct rw_client *cli)
{
	if (!cli)
		return;
	/* the endpoint reads the engine's counters: it goes first */
	rw__metrics_stop(cli->metrics);
	rw__engine_destroy(&cli->e);
	free(cli);
}

void rw_client_stats(const struct rw_client *cli, struct rw_stats *st)
{
	rw__engine_stats(&cli->e, st);
}

int rw_client_send(struct rw_client *cli, uint64_t id, uint8_t channel, uint8_t type, const void *payload,
		   size_t len)
{
	if (channel == RW_CHANNEL_INTERNAL || type == RW_EVENT_CHANNEL_CLOSE)
		return -EINVAL;
	return rw__engine_send(&cli->e, id, channel, type, payload, len);
}

int rw_dial(struct rw_client **out, const char *uri, const struct rw_client_config *cfg, const struct rw_handler *h,
	    uint64_t *id, char *err, size_t errlen)
{
	struct rw_client_config def;
	struct rw_client *cli;
	int ret;

	if (!cfg) {
		rw_client_config_init(&def);
		cfg = &def;
	}
	ret = rw_client_create(&cli, cfg, err, errlen);
	if (ret)
		return ret;
	if (h && (ret = rw_client_on(cli, RW_CHANNEL_ANY, h)))
		goto fail;
	ret = rw_client_start(cli);
	if (ret) {
		if (err && errlen)
			snprintf(err, errlen, "cannot start the client: %s", strerror(-ret));
		goto fail;
	}
	ret = rw_client_dial(cli, uri, NULL, id, err, errlen);
	if (ret)
		goto fail;
	*out = cli;
	return 0;
fail:
	rw_client_stop(cli);
	rw_client_wait(cli);
	rw_client_destroy(cli);
	return ret;
}

int rw_client_metrics_write(const struct rw_client *cli, char *buf, size_t cap)
{
	struct rw__metrics_info info = { .server = false };

	if (!cli)
		return -EINVAL;
	return rw__metrics_write_engine(&cli->e, &info, buf, cap);
}

static int fill_client(void *obj, char *buf, size_t cap)
{
	return rw_client_metrics_write(obj, buf, cap);
}

int rw_client_metrics_listen(struct rw_client *cli, const char *hostport, char *err, size_t errlen)
{
	if (!cli || !hostport)
		return -EINVAL;
	if (cli->metrics)
		return -EALREADY;
	return rw__metrics_listen(&cli->metrics, hostport, fill_client, cli, err, errlen);
}

struct rw_engine *rw__client_engine(struct rw_client *cli)
{
	return &cli->e;
}
