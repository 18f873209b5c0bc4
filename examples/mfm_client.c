/*
 * mfm_client: mfmt2's side of itcd's mfm.sock, as a short C program to
 * adopt (notes/protocol.md, "mfm.sock"). It connects to the socket
 * (SOCK_SEQPACKET, one packet a message), gives its physics identity with
 * "MFZID <id>", then select()s on the socket and prints every message it
 * gets: MFM packets, Tile Event Packets and itcd's replies. Given -m, it
 * sends one MFM packet once that link is MFM-compatible (TEP 3).
 *
 *   cc -std=c99 -Wall -Wextra -o mfm_client examples/mfm_client.c
 *   ./mfm_client -z 'demo[1a2b]' -m ET:2001ff
 *
 * Output, one line a message:
 *   reply ok MFZID demo[1a2b]
 *   tep connect ET 0102030405060708
 *   tep mfm_compatible ET 0102030405060708
 *   sent ET 4 a2 20 01 ff
 *   mfm ET 3 a2 20 01
 *
 * Exit status: 0 when -c packets came (and the -m packet went), 1 on an
 * error, 2 when -t seconds passed first.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_PACKET 255 /* an ITC packet is at most 255 bytes */
#define MAX_MFZID 100  /* what /sys/class/itc_pkt/mfzid takes */

static const char *dirs[8] = {"NT", "NE", "ET", "SE", "ST", "SW", "WT", "NW"};
static const char *events[5] = {"illegal", "connect", "disconnect",
                                "mfm_compatible", "mfm_incompatible"};

static int dir_of(const char *name) {
    for (int d = 0; d < 8; d++)
        if (strcmp(name, dirs[d]) == 0 && d != 0 && d != 4)
            return d;
    return -1;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* parse_mfm builds an MFM packet from "DIR:HEX" (HEX the bytes after the
 * header, byte 1 being the MFM type); it returns its length or -1. */
static int parse_mfm(const char *arg, unsigned char *pkt, int *dir) {
    char name[3];
    const char *colon = strchr(arg, ':');
    if (colon == NULL || colon - arg != 2)
        return -1;
    memcpy(name, arg, 2);
    name[2] = 0;
    if ((*dir = dir_of(name)) < 0)
        return -1;
    const char *hex = colon + 1;
    size_t n = strlen(hex);
    if (n == 0 || n % 2 != 0 || n / 2 + 1 > MAX_PACKET)
        return -1;
    pkt[0] = (unsigned char)(0xA0 | *dir); /* STND, MFMT, DIR */
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        pkt[1 + i] = (unsigned char)(hi << 4 | lo);
    }
    return (int)(n / 2 + 1);
}

static void print_hex(const unsigned char *b, int n) {
    for (int i = 0; i < n; i++)
        printf(" %02x", b[i]);
}

/* print_message prints one message from itcd; it returns 1 for an MFM
 * packet, and sets *compat_dir to DIR8 for a TEP 3. */
static int print_message(const unsigned char *b, int n, int *compat_dir) {
    if (n == 0)
        return 0;
    if ((b[0] & 0x80) == 0) { /* not a standard packet: a reply */
        printf("reply %.*s\n", n, (const char *)b);
        return 0;
    }
    if ((b[0] & 0xE0) == 0xA0) { /* routed, MFMT: an MFM packet */
        printf("mfm %s %d", dirs[b[0] & 7], n);
        print_hex(b, n);
        printf("\n");
        return 1;
    }
    if (b[0] == 0xC4 && n >= 3 && b[2] < 8) { /* a Tile Event Packet */
        const char *ev = b[1] < 5 ? events[b[1]] : "reserved";
        printf("tep %s %s ", ev, dirs[b[2]]);
        for (int i = 3; i < n && i < 11; i++)
            printf("%02x", b[i]);
        printf("\n");
        if (b[1] == 3)
            *compat_dir = b[2];
        return 0;
    }
    printf("other %d", n);
    print_hex(b, n);
    printf("\n");
    return 0;
}

static void usage(const char *prog) {
    fprintf(stderr,
            "usage: %s [-s SOCKET] [-z MFZID] [-m DIR:HEX] [-c COUNT] [-t SECONDS]\n"
            "  -s  mfm.sock path (default /run/itcd/mfm.sock)\n"
            "  -z  physics identity to give (at most %d bytes, no spaces)\n"
            "  -m  send one MFM packet to DIR (NE ET SE SW WT NW) once it is\n"
            "      MFM-compatible; HEX is byte 1 on, e.g. ET:2001ff\n"
            "  -c  exit after COUNT MFM packets (0: run until stopped)\n"
            "  -t  give up after SECONDS (exit 2)\n",
            prog, MAX_MFZID);
    exit(1);
}

int main(int argc, char **argv) {
    const char *path = "/run/itcd/mfm.sock", *mfzid = NULL, *send_arg = NULL;
    long count = 0, seconds = 0;
    int opt;
    while ((opt = getopt(argc, argv, "s:z:m:c:t:")) != -1) {
        switch (opt) {
        case 's': path = optarg; break;
        case 'z': mfzid = optarg; break;
        case 'm': send_arg = optarg; break;
        case 'c': count = strtol(optarg, NULL, 10); break;
        case 't': seconds = strtol(optarg, NULL, 10); break;
        default: usage(argv[0]);
        }
    }
    if (optind != argc || count < 0 || seconds < 0)
        usage(argv[0]);
    unsigned char out[MAX_PACKET];
    int out_len = 0, out_dir = -1, sent = 1;
    if (send_arg != NULL) {
        if ((out_len = parse_mfm(send_arg, out, &out_dir)) < 0) {
            fprintf(stderr, "-m %s: want DIR:HEX, DIR one of NE ET SE SW WT NW\n", send_arg);
            return 1;
        }
        sent = 0;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);

    int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (fd < 0 || strlen(path) >= sizeof addr.sun_path) {
        fprintf(stderr, "socket %s: %s\n", path, fd < 0 ? strerror(errno) : "path too long");
        return 1;
    }
    strcpy(addr.sun_path, path);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        fprintf(stderr, "connect %s: %s (is itcd running?)\n", path, strerror(errno));
        return 1;
    }
    if (mfzid != NULL) {
        char msg[6 + MAX_MFZID];
        size_t n = strlen(mfzid);
        if (n > MAX_MFZID) {
            fprintf(stderr, "-z: %zu bytes, at most %d\n", n, MAX_MFZID);
            return 1;
        }
        memcpy(msg, "MFZID ", 6);
        memcpy(msg + 6, mfzid, n);
        if (send(fd, msg, 6 + n, 0) < 0) {
            fprintf(stderr, "send MFZID: %s\n", strerror(errno));
            return 1;
        }
    }

    time_t deadline = seconds > 0 ? time(NULL) + seconds : 0;
    long got = 0;
    unsigned char buf[MAX_PACKET + 1];
    for (;;) {
        if (count > 0 && got >= count && sent)
            return 0;
        struct timeval tv = {.tv_sec = 1}, *tvp = NULL;
        if (deadline) {
            time_t left = deadline - time(NULL);
            if (left <= 0) {
                fprintf(stderr, "no %ld MFM packets within %lds\n", count, seconds);
                return 2;
            }
            tv.tv_sec = left;
            tvp = &tv;
        }
        fd_set rd;
        FD_ZERO(&rd);
        FD_SET(fd, &rd);
        int r = select(fd + 1, &rd, NULL, NULL, tvp);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            fprintf(stderr, "select: %s\n", strerror(errno));
            return 1;
        }
        if (r == 0)
            continue;
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0) {
            fprintf(stderr, "mfm.sock closed by itcd%s%s\n", n < 0 ? ": " : "", n < 0 ? strerror(errno) : "");
            return 1;
        }
        int compat = -1;
        got += print_message(buf, (int)n, &compat);
        if (!sent && compat == out_dir) {
            if (send(fd, out, (size_t)out_len, 0) < 0) {
                fprintf(stderr, "send MFM packet: %s\n", strerror(errno));
                return 1;
            }
            printf("sent %s %d", dirs[out_dir], out_len);
            print_hex(out, out_len);
            printf("\n");
            sent = 1;
        }
    }
}
