/* A complete ringwire server: uppercases every event and sends it back. */
#include <ctype.h>
#include <stdio.h>
#include <ringwire.h>

static void on_event(struct rw_session *s, uint8_t channel, uint8_t type, const uint8_t *payload, size_t len,
		     void *user)
{
	char up[2048];

	for (size_t i = 0; i < len && i < sizeof(up); i++)
		up[i] = (char)toupper(payload[i]);
	rw_session_send(s, channel, type, up, len < sizeof(up) ? len : sizeof(up));
}

int main(int argc, char **argv)
{
	struct rw_server_config cfg;
	struct rw_handler h = { .on_event = on_event };
	struct rw_server *srv;
	char err[RW_ERRBUF_SIZE], uri[256];

	rw_server_config_init(&cfg);
	cfg.listen = argc > 2 ? argv[2] : "127.0.0.1:9000";
	if (argc < 2 || rw_key_load_private(argv[1], cfg.private_key, err, sizeof(err)) ||
	    rw_server_create(&srv, &cfg, err, sizeof(err)))
		return fprintf(stderr, "usage: %s KEYFILE [HOST:PORT]\n%s\n", argv[0], argc < 2 ? "" : err), 2;
	rw_server_on(srv, RW_CHANNEL_ANY, &h);
	rw_server_uri(srv, uri, sizeof(uri));
	printf("%s\n", uri);
	fflush(stdout);
	return rw_server_run(srv) ? 1 : 0;	/* until Ctrl-C: then Disconnect to all, exit */
}
