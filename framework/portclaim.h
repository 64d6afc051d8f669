/* SPDX-License-Identifier: MIT */
/*
 * portclaim.h - one server per UDP port.
 *
 * A server's reactors share their port through SO_REUSEPORT, and the kernel
 * lets any other socket of the same user join that group: a second server
 * started on the port would silently take part of the traffic. Before the
 * reactors bind, the server tries a plain bind (no SO_REUSEPORT) of the same
 * address; it fails while anyone holds the port, and then we name the holder.
 */
#ifndef RW_PORTCLAIM_H
#define RW_PORTCLAIM_H

#include <stddef.h>
#include <sys/socket.h>

/*
 * 0 when nobody holds addr's UDP port (port 0 always passes), -EADDRINUSE
 * when someone does: who gets "NAME (pid N)" of the holding process if /proc
 * shows it, else "another process". Other errors are returned as they are.
 */
int rw__port_claim_check(const struct sockaddr *addr, socklen_t len, char *who, size_t wholen);

#endif
