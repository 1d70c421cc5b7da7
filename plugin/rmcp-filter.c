/*
 * rmcp-filter.c - keep datagrams that crash stock lanserv off its socket.
 *
 * A socket filter on a UDP socket sees the UDP header at offset 0, the
 * payload at 8.  An RMCP datagram (ASF 2.0 section 3.2.2.2) starts with
 * version 6, a reserved byte, a sequence number and the class (7 for IPMI);
 * the IPMI session header's first byte is the authentication type.
 * IPMI messages are never acknowledged, so their RMCP sequence number is
 * 0xff; lanserv rejects any other, and datagrams shorter than 5 bytes, but
 * logs the rejection with a msg_t it has not initialised yet
 * (ipmi_handle_lan_msg: "seq not ff", "message too short"), and ipmi_sim's
 * logger prints msg->len bytes of msg->data from that garbage: SIGSEGV or
 * a heap overflow, at random.  Anything that is not an IPMI-class RMCP
 * datagram passes untouched: the filter drops only what lanserv would
 * mishandle and never answers anyway.  A load past the end of
 * the datagram ends a classic BPF program with "drop".
 */
#include "config.h"

#include <errno.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "rmcp-filter.h"

G_DEFINE_QUARK(qemu_bmc_rmcp_filter_error, bmc_rmcp_filter_error)

#define UDP_HDR         8
#define RMCP_VERSION    6
#define RMCP_CLASS      7
#define RMCP_SEQ_NO_ACK 0xff
#define KEEP            0xffffffffu
#define DROP            0u

/* Authentication types IPMI defines and lanserv has handlers for: none,
 * MD2, MD5, straight password, and RMCP+ (format 6). */
static gboolean
authtype_known(guint8 t)
{
    return t == 0 || t == 1 || t == 2 || t == 4 || t == 6;
}

gboolean
rmcp_filter_accepts(const guint8 *data, gsize len)
{
    if (len < 1 || data[0] != RMCP_VERSION) {
        return len >= 1;
    }
    if (len < 4 || data[3] != RMCP_CLASS) {
        return len >= 4;
    }
    return len >= 5 && data[2] == RMCP_SEQ_NO_ACK && authtype_known(data[4]);
}

/* The same decision in classic BPF; jumps count the instructions skipped. */
static struct sock_filter program[] = {
    /* 0 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, UDP_HDR + 0),
    /* 1 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, RMCP_VERSION, 0, 11),
    /* 2 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, UDP_HDR + 3),
    /* 3 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, RMCP_CLASS, 0, 9),
    /* 4 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, UDP_HDR + 2),
    /* 5 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, RMCP_SEQ_NO_ACK, 0, 6),
    /* 6 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, UDP_HDR + 4),
    /* 7 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 5, 0),
    /* 8 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 1, 4, 0),
    /* 9 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 2, 3, 0),
    /* 10 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 4, 2, 0),
    /* 11 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 6, 1, 0),
    /* 12 */ BPF_STMT(BPF_RET | BPF_K, DROP),
    /* 13 */ BPF_STMT(BPF_RET | BPF_K, KEEP),
};

gboolean
rmcp_filter_attach(int fd, GError **error)
{
    struct sock_fprog prog = {
        .len = G_N_ELEMENTS(program),
        .filter = program,
    };

    if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0) {
        int err = errno;

        g_set_error(error, BMC_RMCP_FILTER_ERROR, 0,
                    "attaching the RMCP filter to fd %d: %s", fd,
                    g_strerror(err));
        return FALSE;
    }
    return TRUE;
}

static gboolean
is_inet_udp(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    int type = 0;
    socklen_t tlen = sizeof(type);

    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) < 0 ||
        type != SOCK_DGRAM) {
        return FALSE;
    }
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
        return FALSE;
    }
    return ss.ss_family == AF_INET || ss.ss_family == AF_INET6;
}

int
rmcp_filter_attach_all(GError **error)
{
    g_autoptr(GDir) dir = NULL;
    const char *name;
    int n = 0;

    dir = g_dir_open("/proc/self/fd", 0, error);
    if (!dir) {
        return -1;
    }
    while ((name = g_dir_read_name(dir))) {
        int fd = atoi(name);

        /* The directory's own fd is in the listing too; it is no socket. */
        if (!is_inet_udp(fd)) {
            continue;
        }
        if (!rmcp_filter_attach(fd, error)) {
            return -1;
        }
        n++;
    }
    return n;
}
