/* SPDX-License-Identifier: MIT */
/*
 * bench-udp - the raw UDP ceiling over 127.0.0.1: the best this machine moves
 * with no crypto, for the encrypted engine to be compared against. Standalone
 * on purpose (liburing and libc only, no framework header): a ceiling must
 * not inherit the engine's choices.
 *
 *   bench-udp [--mode all|single,batch,gso,gso-zc] [--size N[,N...]]
 *             [--seconds S] [--warmup S] [--batch N] [--segments N] [--json]
 *
 * A sender thread and a receiver thread, pinned to different CPUs when there
 * are two, each with its own io_uring. The receiver has one multishot
 * recvmsg over a ring of provided buffers (as a reactor would) and counts
 * datagrams and payload bytes; that count is the result. Sender modes:
 *   single  one datagram per send, one io_uring_submit per send
 *   batch   one datagram per send, --batch sends per io_uring_submit
 *   gso     UDP GSO: each sendmsg carries --segments datagrams of --size
 *           bytes (UDP_SEGMENT cmsg; default as many as fit in 64 KB, at
 *           most 64); the receiver sets UDP_GRO and counts the segments of
 *           each coalesced read from its gso_size cmsg
 *   gso-zc  the same with IORING_OP_SENDMSG_ZC (zero copy where the kernel
 *           can; on loopback it copies on delivery and says so)
 * A mode the kernel refuses is reported as unavailable, not an error.
 * On loopback the sender's send also runs the receive side of the stack, so
 * the sender can outrun the receiver: what the receiver's socket drops is
 * shown (SO_RXQ_OVFL, in reads: under GRO one dropped read is a whole
 * super-datagram) and is not counted as throughput.
 *
 * Exit status: 0 every run done (unavailable modes included); 1 a socket or
 * io_uring setup failed; 2 bad flags.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IORING_SEND_ZC_REPORT_USAGE
#define IORING_SEND_ZC_REPORT_USAGE (1U << 3)
#endif
#ifndef IORING_NOTIF_USAGE_ZC_COPIED
#define IORING_NOTIF_USAGE_ZC_COPIED (1U << 31)
#endif

enum {
	MAX_UDP = 65507,	/* largest IPv4 UDP payload */
	MAX_SEGS = 64,		/* UDP_MAX_SEGMENTS of older kernels; the issue's bound */
	GSO_BYTES = 65507,	/* one GSO send stays one IP datagram's worth */
	CTRL_LEN = 64,		/* room for the UDP_GRO and SO_RXQ_OVFL cmsgs */
	BGID = 1,
	TX_QD = 256,
};

enum mode { M_SINGLE, M_BATCH, M_GSO, M_GSO_ZC, M_COUNT };
static const char *const mode_name[M_COUNT] = { "single", "batch", "gso", "gso-zc" };

struct run {
	enum mode mode;
	size_t size;		/* bytes per datagram (GSO: per segment) */
	unsigned segs;		/* datagrams per send */
	unsigned batch;		/* sends per io_uring_submit */
	int rx_fd, tx_fd;
	int cpu_rx, cpu_tx;
	bool gro;
	atomic_bool stop_tx, stop_rx;
	/* written by one thread, read by main: relaxed is enough for rates */
	_Atomic uint64_t rx_dgrams, rx_bytes, rx_reads, rx_dropped;
	_Atomic uint64_t tx_dgrams, tx_sends, tx_errors, zc_copied, zc_notifs;
	_Atomic int tx_fatal;	/* first refusal of the mode (negative errno) */
	_Atomic int rx_fatal;
	char why[160];
};

static void pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	/* Best effort: an unpinned run is still a run, just noisier. */
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
	struct timespec ts = { .tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9) };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* SINGLE_ISSUER + DEFER_TASKRUN (completions run in our own wait) when the kernel has them. */
static int ring_init(struct io_uring *ring, unsigned entries)
{
	struct io_uring_params p = { .flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN };
	int ret = io_uring_queue_init_params(entries, ring, &p);

	if (ret == -EINVAL) {
		memset(&p, 0, sizeof(p));
		ret = io_uring_queue_init_params(entries, ring, &p);
	}
	return ret;
}

/* ---- receiver ------------------------------------------------------------------- */

struct rx {
	struct io_uring ring;
	struct io_uring_buf_ring *br;
	size_t br_bytes;
	uint8_t *bufs;
	size_t buf_len, bufs_bytes;
	unsigned nbufs;
	struct msghdr msg;
};

static int rx_arm(struct run *r, struct rx *x)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&x->ring);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_recvmsg_multishot(sqe, r->rx_fd, &x->msg, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = BGID;
	return 0;
}

static int rx_setup(struct run *r, struct rx *x)
{
	struct io_uring_buf_reg reg;
	int ret;

	memset(x, 0, sizeof(*x));
	/* A GRO read holds a whole coalesced super-datagram, up to 64 KB. */
	x->buf_len = sizeof(struct io_uring_recvmsg_out) + CTRL_LEN + (r->gro || r->size > 2048 ? 65536 : 2048);
	x->nbufs = x->buf_len > 4096 ? 256 : 4096;
	x->msg.msg_controllen = CTRL_LEN;
	ret = ring_init(&x->ring, 64);
	if (ret)
		return ret;
	x->br_bytes = x->nbufs * sizeof(struct io_uring_buf);
	x->br = mmap(NULL, x->br_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	x->bufs_bytes = x->nbufs * x->buf_len;
	x->bufs = mmap(NULL, x->bufs_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (x->br == MAP_FAILED || x->bufs == MAP_FAILED)
		return -ENOMEM;
	io_uring_buf_ring_init(x->br);
	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (unsigned long)x->br;
	reg.ring_entries = x->nbufs;
	reg.bgid = BGID;
	ret = io_uring_register_buf_ring(&x->ring, &reg, 0);
	if (ret)
		return ret;
	for (unsigned i = 0; i < x->nbufs; i++)
		io_uring_buf_ring_add(x->br, x->bufs + (size_t)i * x->buf_len, (unsigned)x->buf_len, (unsigned short)i,
				      io_uring_buf_ring_mask(x->nbufs), (int)i);
	io_uring_buf_ring_advance(x->br, (int)x->nbufs);
	return rx_arm(r, x);
}

static void rx_teardown(struct rx *x)
{
	if (x->ring.ring_fd > 0)
		io_uring_queue_exit(&x->ring);
	if (x->br && x->br != MAP_FAILED)
		munmap(x->br, x->br_bytes);
	if (x->bufs && x->bufs != MAP_FAILED)
		munmap(x->bufs, x->bufs_bytes);
}

static void *rx_main(void *arg)
{
	struct run *r = arg;
	struct rx x;
	uint64_t dgrams = 0, bytes = 0, reads = 0;
	int ret;

	pin(r->cpu_rx);
	ret = rx_setup(r, &x);
	if (ret) {
		atomic_store(&r->rx_fatal, ret);
		rx_teardown(&x);
		return NULL;
	}
	while (!atomic_load_explicit(&r->stop_rx, memory_order_relaxed)) {
		struct __kernel_timespec ts = { .tv_nsec = 100 * 1000 * 1000 };
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0, added = 0;
		bool rearm = false;

		ret = io_uring_submit_and_wait_timeout(&x.ring, &cqe, 1, &ts, NULL);
		if (ret < 0 && ret != -ETIME && ret != -EINTR) {
			atomic_store(&r->rx_fatal, ret);
			break;
		}
		io_uring_for_each_cqe(&x.ring, head, cqe) {
			struct io_uring_recvmsg_out *o;
			struct cmsghdr *cm;
			unsigned bid, gso = 0;
			uint8_t *buf;

			seen++;
			if (!(cqe->flags & IORING_CQE_F_MORE))
				rearm = true;	/* the multishot ended (e.g. -ENOBUFS: ring ran dry) */
			if (cqe->res < 0) {
				if (cqe->res != -ENOBUFS)
					atomic_store(&r->rx_fatal, cqe->res);
				continue;
			}
			if (!(cqe->flags & IORING_CQE_F_BUFFER))
				continue;
			bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
			buf = x.bufs + (size_t)bid * x.buf_len;
			o = io_uring_recvmsg_validate(buf, cqe->res, &x.msg);
			if (o) {
				for (cm = io_uring_recvmsg_cmsg_firsthdr(o, &x.msg); cm;
				     cm = io_uring_recvmsg_cmsg_nexthdr(o, &x.msg, cm)) {
					if (cm->cmsg_level == SOL_UDP && cm->cmsg_type == UDP_GRO)
						memcpy(&gso, CMSG_DATA(cm), sizeof(int));
					else if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SO_RXQ_OVFL) {
						uint32_t d;

						memcpy(&d, CMSG_DATA(cm), sizeof(d));
						atomic_store_explicit(&r->rx_dropped, d, memory_order_relaxed);
					}
				}
				reads++;
				bytes += o->payloadlen;
				/* a coalesced read carries ceil(len / gso_size) datagrams */
				dgrams += gso ? (o->payloadlen + gso - 1) / gso : 1;
			}
			io_uring_buf_ring_add(x.br, buf, (unsigned)x.buf_len, (unsigned short)bid,
					      io_uring_buf_ring_mask(x.nbufs), (int)added++);
		}
		io_uring_cq_advance(&x.ring, seen);
		io_uring_buf_ring_advance(x.br, (int)added);
		if (rearm && rx_arm(r, &x)) {
			atomic_store(&r->rx_fatal, -EBUSY);
			break;
		}
		atomic_store_explicit(&r->rx_dgrams, dgrams, memory_order_relaxed);
		atomic_store_explicit(&r->rx_bytes, bytes, memory_order_relaxed);
		atomic_store_explicit(&r->rx_reads, reads, memory_order_relaxed);
	}
	rx_teardown(&x);
	return NULL;
}

/* ---- sender --------------------------------------------------------------------- */

/* What a refused mode looks like: the kernel or the socket says no, the run says why. */
static bool refusal(int err)
{
	return err == -EIO || err == -EINVAL || err == -EOPNOTSUPP || err == -ENOPROTOOPT || err == -EMSGSIZE;
}

static void *tx_main(void *arg)
{
	struct run *r = arg;
	struct io_uring ring;
	union {
		char buf[CMSG_SPACE(sizeof(uint16_t))];
		struct cmsghdr align;
	} ctrl;
	struct iovec iov;
	struct msghdr msg;
	size_t len = r->size * r->segs;
	uint64_t dgrams = 0, sends = 0, errors = 0, copied = 0, notifs = 0;
	unsigned inflight = 0;
	bool gso = r->mode == M_GSO || r->mode == M_GSO_ZC, zc = r->mode == M_GSO_ZC;
	uint8_t *payload;
	int ret;

	pin(r->cpu_tx);
	payload = calloc(1, len);
	ret = payload ? ring_init(&ring, TX_QD) : -ENOMEM;
	if (ret) {
		atomic_store(&r->tx_fatal, ret);
		free(payload);
		return NULL;
	}
	payload[0] = 4;	/* looks like a data packet; the content is irrelevant */
	iov.iov_base = payload;
	iov.iov_len = len;
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	if (gso) {
		struct cmsghdr *cm;
		uint16_t seg = (uint16_t)r->size;

		memset(&ctrl, 0, sizeof(ctrl));
		msg.msg_control = ctrl.buf;
		msg.msg_controllen = sizeof(ctrl.buf);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_UDP;
		cm->cmsg_type = UDP_SEGMENT;
		cm->cmsg_len = CMSG_LEN(sizeof(seg));
		memcpy(CMSG_DATA(cm), &seg, sizeof(seg));
	}

	while (!atomic_load_explicit(&r->stop_tx, memory_order_relaxed)) {
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0, queued = 0;

		/* msg is read-only for the kernel and the payload never changes: every SQE shares them */
		while (inflight < TX_QD && queued < r->batch) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);

			if (!sqe)
				break;
			if (zc) {
				io_uring_prep_sendmsg_zc(sqe, r->tx_fd, &msg, 0);
				sqe->ioprio |= IORING_SEND_ZC_REPORT_USAGE;
			} else if (gso) {
				io_uring_prep_sendmsg(sqe, r->tx_fd, &msg, 0);
			} else {
				io_uring_prep_send(sqe, r->tx_fd, payload, len, 0);
			}
			inflight++;
			queued++;
		}
		/* a full window waits for one completion; otherwise only submit */
		ret = io_uring_submit_and_wait(&ring, inflight >= TX_QD ? 1 : 0);
		if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY) {
			atomic_store(&r->tx_fatal, ret);
			break;
		}
		sends += queued;
		io_uring_for_each_cqe(&ring, head, cqe) {
			seen++;
			if (cqe->flags & IORING_CQE_F_NOTIF) {
				notifs++;
				if ((unsigned)cqe->res & IORING_NOTIF_USAGE_ZC_COPIED)
					copied++;
				inflight--;
				continue;
			}
			if (!(cqe->flags & IORING_CQE_F_MORE))
				inflight--;
			if (cqe->res < 0) {
				errors++;
				/* refused from the start: the mode is unavailable here */
				if (dgrams == 0 && refusal(cqe->res))
					atomic_store(&r->tx_fatal, cqe->res);
			} else {
				dgrams += r->size ? ((size_t)cqe->res + r->size - 1) / r->size : 1;
			}
		}
		io_uring_cq_advance(&ring, seen);
		atomic_store_explicit(&r->tx_dgrams, dgrams, memory_order_relaxed);
		atomic_store_explicit(&r->tx_sends, sends, memory_order_relaxed);
		atomic_store_explicit(&r->tx_errors, errors, memory_order_relaxed);
		atomic_store_explicit(&r->zc_copied, copied, memory_order_relaxed);
		atomic_store_explicit(&r->zc_notifs, notifs, memory_order_relaxed);
		if (atomic_load_explicit(&r->tx_fatal, memory_order_relaxed))
			break;
	}
	/* zero-copy buffers stay the kernel's until their notification: wait for all (bounded) */
	for (double end = now_s() + 2; inflight > 0 && now_s() < end;) {
		struct __kernel_timespec ts = { .tv_nsec = 50 * 1000 * 1000 };
		struct io_uring_cqe *cqe;

		if (io_uring_wait_cqe_timeout(&ring, &cqe, &ts) == 0) {
			if ((cqe->flags & IORING_CQE_F_NOTIF) || !(cqe->flags & IORING_CQE_F_MORE))
				inflight--;
			io_uring_cqe_seen(&ring, cqe);
		}
	}
	io_uring_queue_exit(&ring);
	free(payload);
	return NULL;
}

/* ---- one run ---------------------------------------------------------------------- */

static int udp_socket(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	return fd < 0 ? -errno : fd;
}

/* Big socket buffers: FORCE passes rmem_max/wmem_max when we may, the plain one otherwise. */
static int set_buf(int fd, int force, int plain, int bytes)
{
	int got = 0;
	socklen_t gl = sizeof(got);

	if (setsockopt(fd, SOL_SOCKET, force, &bytes, sizeof(bytes)) < 0)
		setsockopt(fd, SOL_SOCKET, plain, &bytes, sizeof(bytes));
	getsockopt(fd, SOL_SOCKET, plain, &got, &gl);
	return got;
}

struct result {
	bool available;
	char why[160];
	double secs, rx_pps, rx_gbit, tx_pps, sends_ps, reads_ps;
	uint64_t rx_dropped, tx_errors, zc_copied, zc_notifs;
	int rcvbuf, sndbuf;
	unsigned segs, batch;
	bool gro;
};

/* Probe the mode synchronously once, so a refusal is a clear message and not a stalled run. */
static int probe(struct run *r, char *why, size_t whylen)
{
	if (r->mode == M_GSO || r->mode == M_GSO_ZC) {
		int seg = (int)r->size;

		if (setsockopt(r->tx_fd, SOL_UDP, UDP_SEGMENT, &seg, sizeof(seg)) < 0) {
			snprintf(why, whylen, "setsockopt UDP_SEGMENT: %s", strerror(errno));
			return -errno;
		}
		/* back to per-send segment sizes (cmsg); 0 turns the socket default off */
		seg = 0;
		setsockopt(r->tx_fd, SOL_UDP, UDP_SEGMENT, &seg, sizeof(seg));
	}
	if (r->mode == M_GSO_ZC) {
		struct io_uring_probe *p = io_uring_get_probe();
		bool ok = p && io_uring_opcode_supported(p, IORING_OP_SENDMSG_ZC);

		if (p)
			io_uring_free_probe(p);
		if (!ok) {
			snprintf(why, whylen, "io_uring has no IORING_OP_SENDMSG_ZC (kernel 6.1+)");
			return -EOPNOTSUPP;
		}
	}
	return 0;
}

static int run_one(enum mode mode, size_t size, unsigned batch, unsigned segs_opt, double warm, double secs,
		   int cpu_rx, int cpu_tx, struct result *res)
{
	struct run *r = calloc(1, sizeof(*r));
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	pthread_t rt, tt;
	uint64_t rx0, rb0, rr0, tx0, ts0, d0, tx1, ts1, rx1, rb1, rr1, d1;
	double t0, t1;
	int one = 1, ret = 0, err;
	bool rx_started = false, tx_started = false;

	memset(res, 0, sizeof(*res));
	if (!r)
		return -ENOMEM;
	r->mode = mode;
	r->size = size;
	r->cpu_rx = cpu_rx;
	r->cpu_tx = cpu_tx;
	r->segs = 1;
	r->rx_fd = r->tx_fd = -1;
	if (mode == M_GSO || mode == M_GSO_ZC) {
		r->segs = segs_opt ? segs_opt : (unsigned)(GSO_BYTES / size);
		if (r->segs > MAX_SEGS)
			r->segs = MAX_SEGS;
		if (r->segs < 1)
			r->segs = 1;
	}
	r->batch = mode == M_SINGLE ? 1 : batch ? batch : mode == M_BATCH ? 32 : 8;

	r->rx_fd = udp_socket();
	r->tx_fd = udp_socket();
	if (r->rx_fd < 0 || r->tx_fd < 0) {
		ret = r->rx_fd < 0 ? r->rx_fd : r->tx_fd;
		goto out;
	}
	if (bind(r->rx_fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(r->rx_fd, (struct sockaddr *)&a, &alen) < 0 ||
	    connect(r->tx_fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		ret = -errno;
		goto out;
	}
	res->rcvbuf = set_buf(r->rx_fd, SO_RCVBUFFORCE, SO_RCVBUF, 32 << 20);
	res->sndbuf = set_buf(r->tx_fd, SO_SNDBUFFORCE, SO_SNDBUF, 8 << 20);
	setsockopt(r->rx_fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one));
	if (mode == M_GSO || mode == M_GSO_ZC)
		r->gro = setsockopt(r->rx_fd, SOL_UDP, UDP_GRO, &one, sizeof(one)) == 0;
	res->segs = r->segs;
	res->batch = r->batch;
	res->gro = r->gro;
	res->available = probe(r, res->why, sizeof(res->why)) == 0;
	if (!res->available)
		goto out;

	if ((err = pthread_create(&rt, NULL, rx_main, r)) != 0) {
		ret = -err;
		goto out;
	}
	rx_started = true;
	sleep_s(0.05);	/* the receive is armed before the first datagram */
	if ((err = pthread_create(&tt, NULL, tx_main, r)) != 0) {
		ret = -err;
		goto out;
	}
	tx_started = true;

	sleep_s(warm);	/* warm-up: caches, socket buffers, CPU frequency */
	t0 = now_s();
	rx0 = atomic_load(&r->rx_dgrams), rb0 = atomic_load(&r->rx_bytes), rr0 = atomic_load(&r->rx_reads);
	tx0 = atomic_load(&r->tx_dgrams), ts0 = atomic_load(&r->tx_sends), d0 = atomic_load(&r->rx_dropped);
	/* stop early when the mode turned out refused */
	for (double end = t0 + secs; now_s() < end && !atomic_load(&r->tx_fatal) && !atomic_load(&r->rx_fatal);)
		sleep_s(end - now_s() < 0.05 ? end - now_s() : 0.05);
	t1 = now_s();
	rx1 = atomic_load(&r->rx_dgrams), rb1 = atomic_load(&r->rx_bytes), rr1 = atomic_load(&r->rx_reads);
	tx1 = atomic_load(&r->tx_dgrams), ts1 = atomic_load(&r->tx_sends), d1 = atomic_load(&r->rx_dropped);

	if ((err = atomic_load(&r->tx_fatal)) != 0) {
		if (refusal(err) && atomic_load(&r->tx_dgrams) == 0) {
			res->available = false;
			snprintf(res->why, sizeof(res->why), "the kernel refused the first send: %s", strerror(-err));
		} else {
			ret = err;
		}
	}
	if ((err = atomic_load(&r->rx_fatal)) != 0 && !ret && res->available)
		ret = err;
	res->secs = t1 - t0;
	res->rx_pps = (double)(rx1 - rx0) / res->secs;
	res->rx_gbit = (double)(rb1 - rb0) * 8 / res->secs / 1e9;
	res->tx_pps = (double)(tx1 - tx0) / res->secs;
	res->sends_ps = (double)(ts1 - ts0) / res->secs;
	res->reads_ps = (double)(rr1 - rr0) / res->secs;
	res->rx_dropped = d1 - d0;
out:
	atomic_store(&r->stop_tx, true);
	if (tx_started)
		pthread_join(tt, NULL);
	sleep_s(rx_started ? 0.05 : 0);	/* the receiver drains what is in flight */
	atomic_store(&r->stop_rx, true);
	if (rx_started)
		pthread_join(rt, NULL);
	res->tx_errors = atomic_load(&r->tx_errors);
	res->zc_copied = atomic_load(&r->zc_copied);
	res->zc_notifs = atomic_load(&r->zc_notifs);
	if (r->rx_fd >= 0)
		close(r->rx_fd);
	if (r->tx_fd >= 0)
		close(r->tx_fd);
	free(r);
	return ret;
}

/* ---- main ------------------------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bench-udp [--mode all|MODE[,MODE...]] [--size BYTES[,BYTES...]] [--seconds S]\n"
		"                 [--warmup S] [--batch N] [--segments N] [--json]\n"
		"  raw UDP over 127.0.0.1 with io_uring and no crypto: the ceiling ringwire is compared to\n"
		"  modes: single (one datagram per send and per submit), batch (--batch sends per submit,\n"
		"         default 32), gso (UDP_SEGMENT sends of --segments datagrams, default as many as\n"
		"         fit in 64 KB up to 64, received with UDP_GRO; --batch default 8), gso-zc (gso with\n"
		"         IORING_OP_SENDMSG_ZC); all = every mode (default)\n"
		"  --size     datagram (gso: segment) payload, 1..65507, default 1232; a list runs each\n"
		"  --seconds  measured time per run (default 5), after --warmup seconds (default 1)\n"
		"  --json     one JSON line per run on stdout (the text goes to stderr)\n");
}

static int parse_list(const char *arg, const char *flag, long lo, long hi, long *out, int max)
{
	char *copy = strdup(arg), *save = NULL, *tok, *end;
	int n = 0;

	if (!copy)
		return -1;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		long v = strtol(tok, &end, 10);

		if (*end || end == tok || v < lo || v > hi || n == max) {
			fprintf(stderr, "bench-udp: %s: \"%s\" is not a number from %ld to %ld (at most %d of them)\n",
				flag, tok, lo, hi, max);
			free(copy);
			return -1;
		}
		out[n++] = v;
	}
	free(copy);
	return n;
}

static int parse_modes(const char *arg, bool on[M_COUNT])
{
	char *copy = strdup(arg), *save = NULL, *tok;
	int n = 0;

	if (!copy)
		return -1;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int m;

		if (!strcmp(tok, "all")) {
			for (m = 0; m < M_COUNT; m++)
				on[m] = true;
			n += M_COUNT;
			continue;
		}
		for (m = 0; m < M_COUNT && strcmp(tok, mode_name[m]); m++)
			;
		if (m == M_COUNT) {
			fprintf(stderr, "bench-udp: --mode: \"%s\" is not all, single, batch, gso or gso-zc\n", tok);
			free(copy);
			return -1;
		}
		on[m] = true;
		n++;
	}
	free(copy);
	return n;
}

static bool parse_secs(const char *arg, const char *flag, double lo, double *out)
{
	char *end;
	double v = strtod(arg, &end);

	if (*end || end == arg || !(v >= lo && v <= 3600)) {
		fprintf(stderr, "bench-udp: %s: \"%s\" is not a number of seconds from %g to 3600\n", flag, arg, lo);
		return false;
	}
	*out = v;
	return true;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mode", required_argument, NULL, 'm' },
		{ "size", required_argument, NULL, 's' },
		{ "seconds", required_argument, NULL, 't' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "batch", required_argument, NULL, 'b' },
		{ "segments", required_argument, NULL, 'g' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool on[M_COUNT] = { false }, json = false, any = false;
	long sizes[16] = { 1232 }, v;
	int nsizes = 1, cpu_rx = -1, cpu_tx = -1, c, rc = 0;
	double secs = 5, warm = 1;
	unsigned batch = 0, segs = 0;
	cpu_set_t set;
	FILE *txt;

	while ((c = getopt_long(argc, argv, "m:s:t:w:b:g:jh", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			if (parse_modes(optarg, on) < 1)
				return 2;
			break;
		case 's':
			if ((nsizes = parse_list(optarg, "--size", 1, MAX_UDP, sizes, 16)) < 1)
				return 2;
			break;
		case 't':
			if (!parse_secs(optarg, "--seconds", 0.1, &secs))
				return 2;
			break;
		case 'w':
			if (!parse_secs(optarg, "--warmup", 0, &warm))
				return 2;
			break;
		case 'b':
			if (parse_list(optarg, "--batch", 1, TX_QD, &v, 1) != 1)
				return 2;
			batch = (unsigned)v;
			break;
		case 'g':
			if (parse_list(optarg, "--segments", 1, MAX_SEGS, &v, 1) != 1)
				return 2;
			segs = (unsigned)v;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "bench-udp: unexpected argument \"%s\"; see --help\n", argv[optind]);
		return 2;
	}
	for (int m = 0; m < M_COUNT; m++)
		any |= on[m];
	if (!any)
		for (int m = 0; m < M_COUNT; m++)
			on[m] = true;
	for (int i = 0; i < nsizes; i++) {
		if (segs && (on[M_GSO] || on[M_GSO_ZC]) && (long)segs * sizes[i] > GSO_BYTES) {
			fprintf(stderr, "bench-udp: --segments %u x --size %ld is more than %d bytes in one send\n", segs,
				sizes[i], GSO_BYTES);
			return 2;
		}
	}
	/* Receiver on the first allowed CPU, sender on the second, if any. */
	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) >= 2) {
		for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
			if (!CPU_ISSET(cpu, &set))
				continue;
			if (cpu_rx < 0)
				cpu_rx = cpu;
			else if (cpu_tx < 0)
				cpu_tx = cpu;
		}
	}
	txt = json ? stderr : stdout;
	for (int i = 0; i < nsizes; i++) {
		double best = 0;
		int best_m = -1, runs = 0;

		for (int m = 0; m < M_COUNT; m++) {
			struct result res;
			int ret;

			if (!on[m])
				continue;
			runs++;
			ret = run_one((enum mode)m, (size_t)sizes[i], batch, segs, warm, secs, cpu_rx, cpu_tx, &res);
			if (ret) {
				fprintf(stderr, "bench-udp: %s, %ld B: %s\n", mode_name[m], sizes[i], strerror(-ret));
				rc = 1;
				continue;
			}
			if (!res.available) {
				fprintf(txt, "bench-udp: %-6s %5ld B: unavailable: %s\n", mode_name[m], sizes[i], res.why);
				if (json)
					printf("{\"tool\":\"bench-udp\",\"mode\":\"%s\",\"size\":%ld,\"available\":false,"
					       "\"reason\":\"%s\"}\n", mode_name[m], sizes[i], res.why);
				continue;
			}
			fprintf(txt, "bench-udp: %-6s %5ld B x %u per send, %u sends per submit, %.1f s, GRO %s, "
				     "rcvbuf %d, cpus rx %d tx %d\n",
				mode_name[m], sizes[i], res.segs, res.batch, res.secs, res.gro ? "on" : "off", res.rcvbuf,
				cpu_rx, cpu_tx);
			fprintf(txt, "  received %12.0f datagrams/s  %7.3f Gbit/s payload  (%.0f reads/s)\n", res.rx_pps,
				res.rx_gbit, res.reads_ps);
			fprintf(txt, "  sent     %12.0f datagrams/s  (%.0f sends/s, errors %llu; the receiving socket "
				     "dropped %llu reads)\n",
				res.tx_pps, res.sends_ps, (unsigned long long)res.tx_errors,
				(unsigned long long)res.rx_dropped);
			if (m == M_GSO_ZC)
				fprintf(txt, "  zero copy: %llu of %llu sends were copied by the kernel after all\n",
					(unsigned long long)res.zc_copied, (unsigned long long)res.zc_notifs);
			if (json)
				printf("{\"tool\":\"bench-udp\",\"mode\":\"%s\",\"size\":%ld,\"available\":true,"
				       "\"segments\":%u,\"batch\":%u,\"gro\":%s,\"seconds\":%.3f,"
				       "\"rx_datagrams_per_s\":%.0f,\"rx_gbit_s\":%.4f,\"rx_reads_per_s\":%.0f,"
				       "\"tx_datagrams_per_s\":%.0f,\"tx_sends_per_s\":%.0f,\"tx_errors\":%llu,"
				       "\"rx_dropped\":%llu,\"zc_copied\":%llu,\"zc_notifs\":%llu,\"cpu_rx\":%d,\"cpu_tx\":%d}\n",
				       mode_name[m], sizes[i], res.segs, res.batch, res.gro ? "true" : "false", res.secs,
				       res.rx_pps, res.rx_gbit, res.reads_ps, res.tx_pps, res.sends_ps,
				       (unsigned long long)res.tx_errors, (unsigned long long)res.rx_dropped,
				       (unsigned long long)res.zc_copied, (unsigned long long)res.zc_notifs, cpu_rx, cpu_tx);
			fflush(stdout);
			if (res.rx_pps > best) {
				best = res.rx_pps;
				best_m = m;
			}
		}
		if (runs > 1 && best_m >= 0)
			fprintf(txt, "bench-udp: ceiling at %ld B: %s, %.0f datagrams/s, %.3f Gbit/s\n", sizes[i],
				mode_name[best_m], best, best * (double)sizes[i] * 8 / 1e9);
	}
	return rc;
}
