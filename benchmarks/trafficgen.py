"""A bounded packet generator fast enough for the live benchmark: C with sendmmsg, built at run time.

A Python ``sendto`` loop tops out near 100-150k packets/s on one core here, well short of
the 200k/s step and of what tcpdump can take.  This writes small prebuilt Ethernet frames
(UDP and TCP, alternately, over a few hundred flows) with ``sendmmsg`` on an AF_PACKET
socket, paced to a rate or as fast as it can, and stops after a number of seconds and a
number of packets, whichever comes first.  With DISTINCT_FLOWS every packet of a cycle of
that many is a flow of its own (a churn of new conversations, for memory soaks).  It prints
what it really sent and how long it took; the benchmark reports the receiving interface's
own counter as the offered load.

Frames go to a MAC address nobody owns, like traffic on a mirror port: the capture sees
every one of them and the receiving stack drops them at once (no replies to count).
Addresses: 198.18.0.0/15 (benchmarking) to 203.0.113.0/24 (documentation).

Needs gcc (Debian: ``apt-get install gcc``); the binary is cached under the temp folder.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile

C_SOURCE = r"""
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define FLOWS 256
#define FRAME 64

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint16_t csum(const uint8_t *p, int n) {
    uint32_t s = 0;
    for (int i = 0; i + 1 < n; i += 2) s += (p[i] << 8) | p[i + 1];
    while (s >> 16) s = (s & 0xffff) + (s >> 16);
    return (uint16_t)~s;
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: %s IFACE PPS(0=max) SECONDS MAX_PACKETS [DISTINCT_FLOWS]\n", argv[0]);
        return 2;
    }
    long long distinct = argc > 5 ? atoll(argv[5]) : 0;  /* > 0: every packet of a cycle is its own flow */
    const char *ifname = argv[1];
    double pps = atof(argv[2]), seconds = atof(argv[3]);
    long long maxp = atoll(argv[4]);
    int fd = socket(AF_PACKET, SOCK_RAW, 0);
    if (fd < 0) { perror("socket"); return 1; }
    int one = 1;
    setsockopt(fd, SOL_PACKET, 20 /* PACKET_QDISC_BYPASS */, &one, sizeof one);
    int sndbuf = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    struct sockaddr_ll sll = {0};
    sll.sll_family = AF_PACKET;
    sll.sll_ifindex = if_nametoindex(ifname);
    sll.sll_halen = 6;
    if (!sll.sll_ifindex) { perror("if_nametoindex"); return 1; }

    static uint8_t frames[FLOWS][FRAME];
    for (int f = 0; f < FLOWS; f++) {
        uint8_t *p = frames[f];
        memset(p, 0, FRAME);
        memcpy(p, "\x02\x00\x00\x00\x00\x99\x02\x00\x00\x00\x00\x01\x08\x00", 14);
        uint8_t *ip = p + 14;
        int tcp = f & 1;
        int l4len = tcp ? 20 + 10 : 8 + 22;  /* both make a 64-byte frame */
        ip[0] = 0x45; ip[8] = 64; ip[9] = tcp ? 6 : 17;
        uint16_t tot = htons(20 + l4len); memcpy(ip + 2, &tot, 2);
        uint8_t src[4] = {198, 18, 1, (uint8_t)(f + 1)}, dst[4] = {203, 0, 113, (uint8_t)(f % 16 + 1)};
        memcpy(ip + 12, src, 4); memcpy(ip + 16, dst, 4);
        uint16_t c = htons(csum(ip, 20)); memcpy(ip + 10, &c, 2);
        uint8_t *l4 = ip + 20;
        uint16_t sport = htons(20000 + f), dport = htons(tcp ? 8080 : 5000 + f % 8);
        memcpy(l4, &sport, 2); memcpy(l4 + 2, &dport, 2);
        if (tcp) { l4[12] = 0x50; l4[13] = 0x18; l4[14] = 0xff; l4[15] = 0xff; memcpy(l4 + 20, "benchmark!", 10); }
        else { uint16_t ul = htons(l4len); memcpy(l4 + 4, &ul, 2); memcpy(l4 + 8, "sockscope benchmark...", 22); }
        memcpy(sll.sll_addr, p, 6);
    }
    struct mmsghdr msgs[BATCH];
    struct iovec iovs[BATCH];
    memset(msgs, 0, sizeof msgs);
    for (int i = 0; i < BATCH; i++) {
        msgs[i].msg_hdr.msg_iov = &iovs[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
        msgs[i].msg_hdr.msg_name = &sll;
        msgs[i].msg_hdr.msg_namelen = sizeof sll;
        iovs[i].iov_len = FRAME;
    }
    long long sent = 0, errors = 0;
    double t0 = now(), t = t0;
    while (sent < maxp && (t = now()) - t0 < seconds) {
        long long due = pps > 0 ? (long long)((t - t0) * pps) + 1 : sent + BATCH;
        if (due > maxp) due = maxp;
        if (sent >= due) {
            struct timespec ts = {0, 50000};
            nanosleep(&ts, NULL);
            continue;
        }
        int n = due - sent < BATCH ? (int)(due - sent) : BATCH;
        static uint8_t churn[BATCH][FRAME];
        for (int i = 0; i < n; i++) {
            if (distinct > 0) {  /* a new source address and port per packet, cycling */
                long long k = (sent + i) % distinct;
                memcpy(churn[i], frames[k & 1], FRAME);
                /* source 198.18.0.0/15 from the low 17 bits, source port from the rest */
                churn[i][14 + 13] = (uint8_t)(18 + (k >> 16 & 1));
                churn[i][14 + 14] = (uint8_t)(k >> 8);
                churn[i][14 + 15] = (uint8_t)k;
                uint16_t sp = htons((uint16_t)(1024 + (k >> 17)));
                memcpy(churn[i] + 34, &sp, 2);
                iovs[i].iov_base = churn[i];
            } else {
                iovs[i].iov_base = frames[(sent + i) % FLOWS];
            }
        }
        int r = sendmmsg(fd, msgs, n, 0);
        if (r < 0) { errors++; struct timespec ts = {0, 20000}; nanosleep(&ts, NULL); continue; }
        sent += r;
    }
    printf("%lld %.6f %lld\n", sent, now() - t0, errors);
    return 0;
}
"""


def build(cache_dir: str | None = None) -> str:
    """Compile the generator once (cached by source hash); returns the binary's path."""
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        raise RuntimeError("the live benchmark needs a C compiler (apt-get install gcc)")
    digest = hashlib.sha256(C_SOURCE.encode()).hexdigest()[:12]
    folder = cache_dir or os.path.join(tempfile.gettempdir(), "sockscope-bench")
    os.makedirs(folder, exist_ok=True)
    binary = os.path.join(folder, f"trafficgen-{digest}")
    if not os.path.exists(binary):
        src = binary + ".c"
        with open(src, "w") as fh:
            fh.write(C_SOURCE)
        subprocess.run([gcc, "-O2", "-o", binary + ".tmp", src], check=True, capture_output=True)
        os.replace(binary + ".tmp", binary)
    return binary
