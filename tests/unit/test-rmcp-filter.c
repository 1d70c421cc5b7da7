/*
 * test-rmcp-filter.c - the socket filter that keeps crashing datagrams
 * away from lanserv, run by the kernel on a real UDP socket.
 */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rmcp-filter.h"

/* Get Channel Authentication Capabilities, as ipmitool sends it. */
static const guint8 auth_caps[] = {
    0x06, 0x00, 0xff, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x09, 0x20, 0x18, 0xc8, 0x81, 0x04, 0x38, 0x0e, 0x04, 0x31};

static void
test_decisions(void)
{
    guint8 p[sizeof(auth_caps)];
    static const guint8 ping[] = {0x06, 0x00, 0xff, 0x06, 0x00, 0x00,
                                  0x11, 0xbe, 0x80, 0x00, 0x00, 0x00};

    g_assert_true(rmcp_filter_accepts(auth_caps, sizeof(auth_caps)));
    g_assert_true(rmcp_filter_accepts(ping, sizeof(ping))); /* ASF */
    g_assert_true(rmcp_filter_accepts((const guint8 *)"x", 1));
    g_assert_false(rmcp_filter_accepts(auth_caps, 0));
    for (gsize len = 1; len < 5; len++) {
        g_assert_false(rmcp_filter_accepts(auth_caps, len));
    }
    for (guint t = 0; t < 256; t++) {
        memcpy(p, auth_caps, sizeof(p));
        p[4] = (guint8)t;
        g_assert_cmpint(rmcp_filter_accepts(p, sizeof(p)), ==,
                        t == 0 || t == 1 || t == 2 || t == 4 || t == 6);
    }
    for (guint seq = 0; seq < 256; seq++) {
        memcpy(p, auth_caps, sizeof(p));
        p[2] = (guint8)seq;
        g_assert_cmpint(rmcp_filter_accepts(p, sizeof(p)), ==, seq == 0xff);
    }
}

static int
udp_socket(struct sockaddr_in *addr)
{
    socklen_t len = sizeof(*addr);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);

    g_assert_cmpint(fd, >=, 0);
    memset(addr, 0, sizeof(*addr));
    addr->sin_family = AF_INET;
    addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    g_assert_cmpint(bind(fd, (struct sockaddr *)addr, len), ==, 0);
    g_assert_cmpint(getsockname(fd, (struct sockaddr *)addr, &len), ==, 0);
    return fd;
}

static void
send_to(int tx, const struct sockaddr_in *to, const guint8 *data, gsize len)
{
    g_assert_cmpint(
        sendto(tx, data, len, 0, (const struct sockaddr *)to, sizeof(*to)), ==,
        (gssize)len);
}

static gboolean
recv_one(int fd, guint8 *buf, gsize size, gssize *len)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};

    if (poll(&pfd, 1, 5000) != 1) {
        return FALSE;
    }
    *len = recv(fd, buf, size, 0);
    g_assert_cmpint(*len, >=, 0);
    return TRUE;
}

/* Random mutations of a good datagram through the kernel: exactly those
 * rmcp_filter_accepts() passes arrive, in order. */
static void
test_kernel_agrees(void)
{
    struct sockaddr_in rx_addr, tx_addr;
    int rx = udp_socket(&rx_addr);
    int tx = udp_socket(&tx_addr);
    g_autoptr(GError) error = NULL;
    g_autoptr(GRand) rand = g_rand_new_with_seed(1);
    g_autoptr(GPtrArray) expected =
        g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
    static const guint8 end[] = "end";
    guint8 buf[512];
    gssize len;
    guint dropped = 0;

    g_assert_true(rmcp_filter_attach(rx, &error));
    g_assert_no_error(error);
    for (guint i = 0; i < 3000; i++) {
        guint8 p[64];
        gsize n = sizeof(auth_caps);

        memcpy(p, auth_caps, n);
        /* Mostly the fields the filter reads, sometimes the length. */
        for (guint k = g_rand_int_range(rand, 0, 3); k > 0; k--) {
            p[g_rand_int_range(rand, 0, 6)] = (guint8)g_rand_int(rand);
        }
        if (g_rand_int_range(rand, 0, 4) == 0) {
            n = g_rand_int_range(rand, 0, 8);
        }
        send_to(tx, &rx_addr, p, n);
        if (rmcp_filter_accepts(p, n)) {
            g_ptr_array_add(expected, g_bytes_new(p, n));
        } else {
            dropped++;
        }
        /* Keep the receive queue short. */
        if (i % 64 == 63 || i == 2999) {
            send_to(tx, &rx_addr, end, sizeof(end));
            for (;;) {
                g_assert_true(recv_one(rx, buf, sizeof(buf), &len));
                if (len == sizeof(end) && memcmp(buf, end, len) == 0) {
                    break;
                }
                g_assert_cmpuint(expected->len, >, 0);
                g_assert_cmpmem(buf, len,
                                g_bytes_get_data(expected->pdata[0], NULL),
                                g_bytes_get_size(expected->pdata[0]));
                g_ptr_array_remove_index(expected, 0);
            }
            g_assert_cmpuint(expected->len, ==, 0);
        }
    }
    /* Both kinds were exercised. */
    g_assert_cmpuint(dropped, >, 300);
    close(rx);
    close(tx);
}

static socklen_t
filter_size(int fd)
{
    socklen_t len = 0;

    g_assert_cmpint(getsockopt(fd, SOL_SOCKET, SO_GET_FILTER, NULL, &len), ==,
                    0);
    return len;
}

/* attach_all finds the process's UDP sockets and leaves others alone. */
static void
test_attach_all(void)
{
    struct sockaddr_in rx_addr, tx_addr;
    int rx = udp_socket(&rx_addr);
    int tx = udp_socket(&tx_addr);
    int pair[2];
    g_autoptr(GError) error = NULL;
    guint8 bad[sizeof(auth_caps)];
    guint8 buf[64];
    gssize len = 0;
    int n;

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_DGRAM, 0, pair), ==, 0);
    n = rmcp_filter_attach_all(&error);
    g_assert_no_error(error);
    g_assert_cmpint(n, ==, 2);
    /* No filter on the unix sockets: with a length of 0, SO_GET_FILTER
     * returns the number of instructions attached. */
    g_assert_cmpuint(filter_size(pair[0]), ==, 0);
    g_assert_cmpuint(filter_size(rx), >, 0);

    memcpy(bad, auth_caps, sizeof(bad));
    bad[4] = 3;
    send_to(tx, &rx_addr, bad, sizeof(bad));
    send_to(tx, &rx_addr, auth_caps, sizeof(auth_caps));
    g_assert_true(recv_one(rx, buf, sizeof(buf), &len));
    g_assert_cmpmem(buf, len, auth_caps, sizeof(auth_caps));
    close(pair[0]);
    close(pair[1]);
    close(rx);
    close(tx);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/rmcp-filter/decisions", test_decisions);
    g_test_add_func("/rmcp-filter/kernel-agrees", test_kernel_agrees);
    g_test_add_func("/rmcp-filter/attach-all", test_attach_all);
    return g_test_run();
}
