/* SPDX-License-Identifier: MIT */
/*
 * noise_worker.h - a shard's Noise work on a thread of its own.
 *
 * A handshake costs four or five X25519 on each side (~33 us each here,
 * several times that on a machine shared with other work). Computed on the
 * reactor thread, a wave of rekeys or a crowd reconnecting holds every
 * other session's data behind it: the p99 of a busy machine went 4-5x up
 * with 250 rekeys/s. So the DH work runs here, as WireGuard runs handshakes
 * in a workqueue of their own, and the reactor keeps the cheap parts (the
 * MAC checks before, the session state after).
 *
 * One worker per shard, started on the first job. A job is taken from the
 * shard's pool by the reactor, filled with copies of everything its work
 * reads (no pointer into session state), and submitted; the worker runs
 * job->work and posts the job back to the shard as a command (job->c.run,
 * on the reactor thread), which returns it with rw__nw_put. Nothing here
 * blocks the reactor: submit is a store into a single-producer ring and,
 * when the worker sleeps, one write(2) to its eventfd.
 *
 * The pool and the ring belong to the reactor (take, submit, put); only
 * the ring's tail and the wake flag are shared with the worker.
 */
#ifndef RW_NOISE_WORKER_H
#define RW_NOISE_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "noise.h"
#include "shard.h"

enum {
	/*
	 * Jobs per shard: as many as the old queue of inits waiting for their
	 * DH (WireGuard's 4096); past it an init is dropped (no_buffer) and a
	 * rekey waits for the next batch. Each job is ~0.9 KB, taken from a
	 * zeroed allocation as first needed.
	 */
	RW_NW_JOBS = 4096,
	/* the worker's nice value above its process's (noise_worker.c says why) */
	RW_NW_NICE = 10,
	/*
	 * A job queued this long and not yet started: the worker is starved
	 * (its nice value yields to every other process on a saturated
	 * machine), and submit refuses, so the reactor computes handshakes
	 * itself until the queue moves again (noise_worker.c says why). Under
	 * the first handshake retry (1 s), so no rekey retries only because
	 * its own side's worker was slow.
	 */
	RW_NW_MAX_LAG_MS = 500,
};

struct rw_nw_job;
typedef void (*rw_nw_work_fn)(struct rw_nw_job *j);

/* One piece of Noise work and what it needs, by value. */
struct rw_nw_job {
	struct rw_cmd c;			/* the way back: c.run runs on the shard's thread */
	struct rw_nw_job *next_free;
	rw_nw_work_fn work;			/* runs on the worker thread */
	int ret;				/* what the work returned */
	uint64_t queued_ns;			/* when submitted (the reactor's; the worker never reads it) */
	uint64_t session_id;
	uint32_t gen;				/* the session's handshake attempt it belongs to */
	uint32_t index;				/* our receiver index it is for */
	uint32_t remote_index;
	void *peers;				/* the engine's peer table (locked), for cached DH */
	struct rw_noise_identity id;		/* ours: a client's may belong to its session */
	struct rw_peer_addr from;
	struct rw_handshake hs;
	struct rw_noise_remote remote;
	uint8_t ts[RW_TAI64N_LEN];
	uint8_t in[RW_SIZE_HANDSHAKE_INIT];
	uint8_t out[RW_SIZE_HANDSHAKE_INIT];
	uint8_t tx[RW_KEY_LEN], rx[RW_KEY_LEN];
};

/*
 * How a finished job goes back: rw__shard_post on the shard in the engine;
 * a test may catch it. Runs on the worker thread.
 */
typedef int (*rw_nw_deliver_fn)(void *target, struct rw_cmd *c);

struct rw_noise_worker {
	rw_nw_deliver_fn deliver;
	void *target;
	struct rw_nw_job *jobs;			/* the pool, RW_NW_JOBS, NULL until first used */
	struct rw_nw_job *free;			/* returned jobs */
	uint32_t fresh;				/* jobs never used yet start here */
	uint32_t out;				/* taken and not yet put back */
	struct rw_nw_job **ring;		/* reactor -> worker, RW_NW_JOBS slots */
	uint64_t max_lag_ns;			/* RW_NW_MAX_LAG_MS; 0: never behind (tests) */
	uint64_t behind;			/* submits refused as behind (reactor; read by rw_stats) */
	_Atomic uint32_t head;			/* next for the worker (worker writes) */
	_Atomic uint32_t tail;			/* next free slot (reactor writes) */
	_Atomic int sleeping;
	_Atomic bool stop;
	int efd;
	pthread_t thread;
	bool started, failed;
	uint64_t jobs_run, wakes;		/* worker-side counts, read after the join */
};

/* Ready to use (no thread, no memory yet). RW_TEST_NOISE_INLINE=1 in the environment: never starts a thread. */
void rw__nw_init(struct rw_noise_worker *w, rw_nw_deliver_fn deliver, void *target);
/* The shard's worker, made on first use (NULL without memory); its jobs come back as shard commands. */
struct rw_noise_worker *rw__nw_of(struct rw_shard *sh);
/*
 * Run j: on the worker, or here and now when there is none (j->work, then
 * j->c.run, which puts it back).
 */
void rw__nw_run(struct rw_shard *sh, struct rw_noise_worker *w, struct rw_nw_job *j);
/* A zeroed job, or NULL when all RW_NW_JOBS are out (or no memory). */
struct rw_nw_job *rw__nw_get(struct rw_noise_worker *w);
/* Back to the pool, wiped (it held keys). */
void rw__nw_put(struct rw_noise_worker *w, struct rw_nw_job *j);
/*
 * Hand j (work and c.run set) to the worker. -EAGAIN when no worker thread
 * can run (it could not start), or when the oldest job queued waited more
 * than max_lag_ns (counted in behind): the caller runs j->work itself then.
 */
int rw__nw_submit(struct rw_noise_worker *w, struct rw_nw_job *j) RW_MUST_CHECK;
/*
 * Stop the thread (it finishes the job at hand; jobs still queued are not
 * run and not delivered) and join it. The pool stays for rw__nw_free:
 * completions already posted may still run and put their jobs back.
 */
void rw__nw_stop(struct rw_noise_worker *w);
/* Stop, then wipe and free the pool. */
void rw__nw_free(struct rw_noise_worker *w);

#endif
