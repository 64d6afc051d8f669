/* SPDX-License-Identifier: MIT */
/*
 * test_pmtu.c - the path MTU discovery state machine (framework/pmtu.c) and
 * its probe and ack events, with a simulated path: a probe gets through when
 * it is no larger than the path allows and the peer answers probes.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "frame.h"
#include "pmtu.h"

struct path {
	uint32_t mtu;		/* largest datagram that gets through */
	uint32_t peer_max;	/* what the peer says it receives */
	bool deaf;		/* a v1 peer: never answers */
	uint32_t rtt;
};

static const struct rw_pmtu_cfg cfg = { .base = 1232, .cap = 65000, .raise_ms = 600000, .confirm_ms = 10000 };

/* Run the machine against a path until `until`; returns probes sent. */
static unsigned run(struct rw_pmtu *p, const struct path *path, uint64_t *now, uint64_t until)
{
	unsigned sent = 0;

	while (*now < until) {
		uint32_t size, id;

		if (p->due > until) {
			*now = until;
			break;
		}
		if (p->due > *now)
			*now = p->due;
		if (!rw__pmtu_poll(p, *now, &size, &id))
			continue;
		sent++;
		assert_true(size >= cfg.base);
		assert_true(size <= cfg.cap);
		/* never above what the peer said, once it said it */
		if (p->peer_max)
			assert_true(size <= p->peer_max);
		if (path->deaf || size > path->mtu)
			continue;
		*now += path->rtt;
		rw__pmtu_on_ack(p, id, size, path->peer_max, *now);
	}
	return sent;
}

static void test_grows_to_cap(void **state)
{
	struct path path = { .mtu = 65535, .peer_max = 65000, .rtt = 1 };
	struct rw_pmtu p;
	uint64_t now = 1000;

	(void)state;
	rw__pmtu_init(&p, &cfg, now);
	assert_int_equal(p.size, 1232);
	run(&p, &path, &now, now + 5000);
	assert_int_equal(p.state, RW_PMTU_DONE);
	assert_int_equal(p.size, 65000);
	assert_int_equal(p.probes_lost, 0);
	assert_int_equal(p.probes_acked, p.probes_sent);
	/* the top first: the base probe and one at the cap, one round trip each */
	assert_int_equal(p.probes_sent, 2);
}

/* The top first, and when the path does not carry it, one try there and up the ladder. */
static void test_top_first_then_ladder(void **state)
{
	struct path path = { .mtu = 9000, .peer_max = 65000, .rtt = 1 };
	struct rw_pmtu p;
	uint64_t now = 1000;
	uint32_t size, id;

	(void)state;
	rw__pmtu_init(&p, &cfg, now);
	assert_true(rw__pmtu_poll(&p, now, &size, &id));
	assert_int_equal(size, 1232);
	rw__pmtu_on_ack(&p, id, size, path.peer_max, ++now);
	assert_true(rw__pmtu_poll(&p, now, &size, &id));
	assert_int_equal(size, 65000);		/* the top: lost on this path */
	now = p.due;
	assert_true(rw__pmtu_poll(&p, now, &size, &id));
	assert_int_equal(size, 1452);		/* no second try: the first rung */
	assert_int_equal(p.probes_lost, 1);
	run(&p, &path, &now, now + 60000);
	assert_int_equal(p.size, 8952);
	/* a late ack of the top still raises the size: the path did carry it */
	rw__pmtu_init(&p, &cfg, now = 0);
	assert_true(rw__pmtu_poll(&p, now, &size, &id));
	rw__pmtu_on_ack(&p, id, size, 65000, ++now);
	assert_true(rw__pmtu_poll(&p, now, &size, &id));
	assert_int_equal(size, 65000);
	now = p.due;
	assert_true(rw__pmtu_poll(&p, now, &size, &id));	/* 1452 goes out */
	rw__pmtu_on_ack(&p, id - 1, 65000, 65000, ++now);
	assert_int_equal(p.size, 65000);
	assert_int_equal(p.state, RW_PMTU_DONE);
}

/* Over a stream (TCP): one base probe, then the peer's maximum at once, and nothing more. */
static void test_stream(void **state)
{
	struct path path = { .mtu = 65535, .peer_max = 40000, .rtt = 1 };
	struct rw_pmtu p;
	uint64_t now = 1000;

	(void)state;
	rw__pmtu_init(&p, &cfg, now);
	rw__pmtu_set_stream(&p, true);
	assert_int_equal(run(&p, &path, &now, now + 3600 * 1000), 1);
	assert_int_equal(p.state, RW_PMTU_DONE);
	assert_int_equal(p.size, 40000);
	assert_int_equal(p.due, UINT64_MAX);
	/* a retransmission above base is no black hole on a stream */
	rw__pmtu_on_loss(&p, now);
	assert_int_equal(p.state, RW_PMTU_DONE);
	assert_int_equal(p.size, 40000);
	/* a peer that takes more than our cap: the cap */
	path.peer_max = 65535;
	rw__pmtu_init(&p, &cfg, now);
	rw__pmtu_set_stream(&p, true);
	assert_int_equal(run(&p, &path, &now, now + 3600 * 1000), 1);
	assert_int_equal(p.size, 65000);
}

/* Each row: a path, and where the search must end. */
static void test_table(void **state)
{
	static const struct {
		uint32_t mtu, peer_max, cap;
		uint32_t want;
	} rows[] = {
		{ 1500 - 48, 65000, 65000, 1452 },	/* Ethernet over IPv6 */
		{ 1500 - 28, 65000, 65000, 1452 },	/* over IPv4: 1472 is not a candidate */
		{ 9000 - 48, 65000, 65000, 8952 },	/* jumbo frames */
		{ 65535, 2000, 65000, 2000 },		/* the peer receives at most 2000 */
		{ 65535, 65000, 9000, 9000 },		/* our cap */
		{ 65535, 65000, 16420, 16419 },		/* a size no frame pads to exactly */
		{ 4000, 65000, 65000, 2048 },
		{ 65535, 1232, 65000, 1232 },		/* the peer grows nothing */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct rw_pmtu_cfg c = cfg;
		struct path path = { .mtu = rows[i].mtu, .peer_max = rows[i].peer_max, .rtt = 2 };
		struct rw_pmtu p;
		uint64_t now = 0;

		c.cap = rows[i].cap;
		rw__pmtu_init(&p, &c, now);
		run(&p, &path, &now, 60000);
		print_message("row %zu: %u (probes %llu, lost %llu)\n", i, p.size, (unsigned long long)p.probes_sent,
			      (unsigned long long)p.probes_lost);
		assert_int_equal(p.size, rows[i].want);
		assert_int_equal(p.state, RW_PMTU_DONE);
		/*
		 * a search below the top costs one lost probe at the top and
		 * MAX_PROBES at the size that fails, and a search that failed
		 * is tried again after 1, 2, 4... s: within 60 s at most 6 of them
		 */
		assert_true(p.probes_lost % (RW_PMTU_MAX_PROBES + 1) == 0);
		assert_true(p.probes_lost <= 6 * (RW_PMTU_MAX_PROBES + 1));
	}
}

static void test_v1_peer_stays_at_base(void **state)
{
	struct path path = { .mtu = 65535, .peer_max = 65000, .deaf = true, .rtt = 1 };
	struct rw_pmtu p;
	uint64_t now = 0;
	unsigned sent;

	(void)state;
	rw__pmtu_init(&p, &cfg, now);
	sent = run(&p, &path, &now, 599000);
	/* MAX_PROBES probes of the base size, then quiet until the raise timer */
	assert_int_equal(sent, RW_PMTU_MAX_PROBES);
	assert_int_equal(p.state, RW_PMTU_QUIET);
	assert_int_equal(p.size, 1232);
	/* one hour: retries back off (600 s, 1200 s, 2400 s ...), 3 probes each */
	sent += run(&p, &path, &now, 3600000);
	assert_true(sent <= 4 * RW_PMTU_MAX_PROBES);
	assert_int_equal(p.size, 1232);
}

/*
 * Congestion, not a black hole: the probes of the grown size are lost (a full
 * receive buffer drops the largest datagrams first) while reliable data in
 * datagrams of that size is ACKed. The ACKs confirm the size.
 */
static void test_delivered_confirms(void **state)
{
	struct path path = { .mtu = 65535, .peer_max = 65000, .rtt = 1 };
	struct rw_pmtu p;
	uint64_t now = 0;
	uint32_t size, id;

	(void)state;
	rw__pmtu_init(&p, &cfg, now);
	run(&p, &path, &now, 1000);
	assert_int_equal(p.size, 65000);
	rw__pmtu_sent(&p, 65000);
	rw__pmtu_on_loss(&p, now);
	assert_int_equal(p.state, RW_PMTU_CONFIRM);
	/* every probe lost, but data of the full size gets through between them */
	for (int i = 0; i < 10; i++) {
		now = p.due > now ? p.due : now;
		rw__pmtu_on_delivered(&p, 65000, now);
		if (p.state != RW_PMTU_CONFIRM)
			break;
		(void)rw__pmtu_poll(&p, now, &size, &id);
	}
	assert_int_equal(p.state, RW_PMTU_DONE);
	assert_int_equal(p.black_holes, 0);
	assert_int_equal(p.size, 65000);
	/* smaller datagrams say nothing about the size */
	rw__pmtu_on_loss(&p, now);
	rw__pmtu_on_delivered(&p, 1232, now);
	assert_int_equal(p.state, RW_PMTU_CONFIRM);
	/* in DONE, delivered data pushes the next confirmation back */
	rw__pmtu_on_delivered(&p, 65000, now);
	assert_int_equal(p.state, RW_PMTU_DONE);
	rw__pmtu_sent(&p, 65000);
	rw__pmtu_on_delivered(&p, 65000, now + cfg.confirm_ms - 1);
	assert_int_equal(p.due, now + cfg.confirm_ms - 1 + cfg.confirm_ms);
}

static void test_black_hole(void **state)
{
	struct path path = { .mtu = 65535, .peer_max = 65000, .rtt = 1 };
	struct rw_pmtu p;
	uint64_t now = 0;

	(void)state;
	rw__pmtu_init(&p, &cfg, now);
	run(&p, &path, &now, 1000);
	assert_int_equal(p.size, 65000);
	/* the path shrinks; data at the grown size is lost and the reliable layer says so */
	path.mtu = 3000;
	rw__pmtu_sent(&p, 65000);
	rw__pmtu_on_loss(&p, now);
	assert_int_equal(p.state, RW_PMTU_CONFIRM);
	run(&p, &path, &now, now + 5000);
	assert_int_equal(p.black_holes, 1);
	/* back to base, then a new search finds what the path carries now */
	assert_int_equal(p.size, 2048);
	assert_int_equal(p.state, RW_PMTU_DONE);
}

static void test_periodic_confirmation(void **state)
{
	struct path path = { .mtu = 65535, .peer_max = 65000, .rtt = 1 };
	struct rw_pmtu p;
	uint64_t now = 0;
	unsigned sent;

	(void)state;
	rw__pmtu_init(&p, &cfg, now);
	run(&p, &path, &now, 1000);
	/* idle at the grown size: no confirmation probes */
	sent = run(&p, &path, &now, 100000);
	assert_int_equal(sent, 0);
	/* large packets leave, and the path stops carrying them: found without any loss signal */
	rw__pmtu_sent(&p, 9000);
	path.mtu = 1400;
	run(&p, &path, &now, now + 20000);
	assert_int_equal(p.black_holes, 1);
	assert_int_equal(p.size, 1232);
}

static void test_confirmation_passes(void **state)
{
	struct path path = { .mtu = 65535, .peer_max = 65000, .rtt = 1 };
	struct rw_pmtu p;
	uint64_t now = 0;

	(void)state;
	rw__pmtu_init(&p, &cfg, now);
	run(&p, &path, &now, 1000);
	/* a loss that was only congestion: the confirmation probe is acked, the size stays */
	rw__pmtu_on_loss(&p, now);
	run(&p, &path, &now, now + 5000);
	assert_int_equal(p.black_holes, 0);
	assert_int_equal(p.size, 65000);
	assert_int_equal(p.state, RW_PMTU_DONE);
}

static void test_raise_timer_searches_again(void **state)
{
	struct path path = { .mtu = 1452, .peer_max = 65000, .rtt = 1 };
	struct rw_pmtu p;
	uint64_t now = 0;

	(void)state;
	rw__pmtu_init(&p, &cfg, now);
	run(&p, &path, &now, 10000);
	assert_int_equal(p.size, 1452);
	/* the path carries more now: found by the next search, at most 2^6 s after the last */
	path.mtu = 9000;
	run(&p, &path, &now, 10000 + 70000);
	assert_int_equal(p.size, 8952);
	/* searches that keep failing back off, up to PMTU_RAISE_TIMER: 1, 2, 4 ... 512 s, then 600 s */
	path.mtu = 1452;
	rw__pmtu_init(&p, &cfg, now = 0);
	run(&p, &path, &now, 600000);
	assert_int_equal(p.size, 1452);
	print_message("lost probes in 600 s on a path stuck at 1452: %llu\n", (unsigned long long)p.probes_lost);
	assert_true(p.probes_lost <= 11 * (RW_PMTU_MAX_PROBES + 1));
	{
		unsigned long long before = p.probes_lost;

		run(&p, &path, &now, 600000 + 1200000);
		/* from then on once per raise timer */
		assert_true(p.probes_lost - before <= 3 * (RW_PMTU_MAX_PROBES + 1));
	}
}

static void test_stale_and_bogus_acks(void **state)
{
	struct rw_pmtu p;
	uint32_t size, id;

	(void)state;
	rw__pmtu_init(&p, &cfg, 0);
	assert_true(rw__pmtu_poll(&p, 0, &size, &id));
	assert_int_equal(size, 1232);
	/* an id never sent, a size never probed, a size above the peer's own maximum */
	assert_false(rw__pmtu_on_ack(&p, id + 1, 1232, 65000, 1));
	assert_false(rw__pmtu_on_ack(&p, id, 9000, 65000, 1));
	assert_false(rw__pmtu_on_ack(&p, id, 1232, 1000, 1));
	assert_int_equal(p.probes_acked, 0);
	assert_false(rw__pmtu_on_ack(&p, id, 1232, 65000, 1));
	assert_int_equal(p.state, RW_PMTU_SEARCH);
	/* a reset: acks of the old epoch no longer count */
	assert_true(rw__pmtu_poll(&p, 1, &size, &id));
	rw__pmtu_reset(&p, 2);
	assert_false(rw__pmtu_on_ack(&p, id, size, 65000, 3));
	assert_int_equal(p.size, 1232);
	assert_int_equal(p.state, RW_PMTU_BASE);
}

static void test_off_and_unsent(void **state)
{
	struct rw_pmtu_cfg c = cfg;
	struct rw_pmtu p;
	uint32_t size, id;

	(void)state;
	c.cap = 1232;
	rw__pmtu_init(&p, &c, 0);
	assert_int_equal(p.state, RW_PMTU_OFF);
	assert_false(rw__pmtu_poll(&p, 1000000, &size, &id));
	rw__pmtu_init(&p, &cfg, 0);
	assert_true(rw__pmtu_poll(&p, 0, &size, &id));
	/* no buffer for it: not a lost probe */
	rw__pmtu_unsent(&p, 0);
	assert_int_equal(p.probes_sent, 0);
	assert_false(rw__pmtu_poll(&p, 50, &size, &id));
	assert_true(rw__pmtu_poll(&p, RW_PMTU_PROBE_TIMEOUT_MIN_MS, &size, &id));
	assert_int_equal(p.probes_lost, 0);
}

static void test_probe_wire(void **state)
{
	static uint8_t frame[70000];
	static const uint32_t sizes[] = { 1232, 1452, 2048, 8952, 16384, 16419, 16421, 65000 };

	(void)state;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct rw_frame f;
		struct rw_frame_iter it;
		struct rw_pmtu_msg m;
		const uint8_t *pl;
		uint8_t type;
		size_t plen;
		int n = rw__pmtu_probe_frame(frame, sizeof(frame), 7, sizes[i], 60000);

		assert_int_equal(n, (int)sizes[i] - RW_SIZE_DATA_MIN);
		assert_int_equal(rw__frame_decode(&f, frame, (size_t)n), 0);
		assert_int_equal(f.channel, RW_CHANNEL_INTERNAL);
		assert_int_equal(f.nevents, 1);
		rw__frame_iter_init(&it, &f);
		assert_true(rw__frame_next_event(&it, &type, &pl, &plen));
		assert_int_equal(type, RW_INTERNAL_PMTU_PROBE);
		assert_int_equal(rw__pmtu_msg_parse(&m, type, pl, plen), 0);
		assert_int_equal(m.id, 7);
		assert_int_equal(m.size, sizes[i]);
		assert_int_equal(m.max, 60000);
		/* trimmed padding: the stated size is not believed */
		assert_int_equal(rw__pmtu_msg_parse(&m, type, pl, plen - 1), -EINVAL);
	}
	/* the one size a frame cannot pad to exactly */
	assert_int_equal(rw__pmtu_probe_frame(frame, sizeof(frame), 1, 16420, 60000), -EINVAL);
	assert_int_equal(rw__pmtu_reachable(16420), 16419);
	assert_int_equal(rw__pmtu_probe_frame(frame, 100, 1, 1232, 60000), -ENOSPC);
	{
		uint8_t ack[RW_PMTU_MSG_LEN];
		struct rw_pmtu_msg m;

		rw__pmtu_ack_put(ack, 9, 8952, 65000);
		assert_int_equal(rw__pmtu_msg_parse(&m, RW_INTERNAL_PMTU_ACK, ack, sizeof(ack)), 0);
		assert_int_equal(m.id, 9);
		assert_int_equal(m.size, 8952);
		assert_int_equal(m.max, 65000);
		assert_int_equal(rw__pmtu_msg_parse(&m, RW_INTERNAL_PMTU_ACK, ack, 11), -EINVAL);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_grows_to_cap),
		cmocka_unit_test(test_top_first_then_ladder),
		cmocka_unit_test(test_delivered_confirms),
		cmocka_unit_test(test_stream),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_v1_peer_stays_at_base),
		cmocka_unit_test(test_black_hole),
		cmocka_unit_test(test_periodic_confirmation),
		cmocka_unit_test(test_confirmation_passes),
		cmocka_unit_test(test_raise_timer_searches_again),
		cmocka_unit_test(test_stale_and_bogus_acks),
		cmocka_unit_test(test_off_and_unsent),
		cmocka_unit_test(test_probe_wire),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
