/* A complete ringwire server: uppercases every event and sends it back. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
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
	char err[RW_ERRBUF_SIZE], uri[RW_URI_MAX];

	if (argc == 2 && !strcmp(argv[1], "--help"))
		return printf("usage: %s KEYFILE [HOST:PORT]\n", argv[0]), 0;
	if (argc < 2 || argc > 3 || argv[1][0] == '-')	/* a flag is no key file */
		return fprintf(stderr, "%s: expected KEYFILE [HOST:PORT]; see --help\n", argv[0]), 2;
	rw_server_config_init(&cfg);
	cfg.listen = argc > 2 ? argv[2] : "127.0.0.1:9000";
	if (rw_key_load_private(argv[1], cfg.private_key, err, sizeof(err)) ||
	    rw_server_create(&srv, &cfg, err, sizeof(err)))
		return fprintf(stderr, "%s: %s\n", argv[0], err), 1;
	rw_server_on(srv, RW_CHANNEL_ANY, &h);
	rw_server_uri(srv, uri, sizeof(uri));	/* on 0.0.0.0 or [::]: a loopback URI */
	printf("%s\n", uri);
	fflush(stdout);
	return rw_server_run(srv) ? 1 : 0;	/* until Ctrl-C: then Disconnect to all, exit */
}
