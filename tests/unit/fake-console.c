/*
 * fake-console.c - scripted-by-hand peers of the sol-bridge.
 */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib-unix.h>
#include <glib/gstdio.h>

#include "fake-console.h"
#include "test-util.h"

gboolean
test_pump_until(GMainContext *context, gboolean (*done)(gpointer),
                gpointer data, guint timeout_ms)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

    while (!done(data)) {
        if (g_get_monotonic_time() > deadline) {
            return FALSE;
        }
        if (!g_main_context_iteration(context, FALSE)) {
            g_usleep(200);
        }
    }
    return TRUE;
}

static gboolean
never(gpointer data)
{
    return FALSE;
}

void
test_pump_for(GMainContext *context, guint ms)
{
    (void)test_pump_until(context, never, NULL, ms);
}

/* Read whatever @fd has into @into; FALSE on EOF or error. */
static gboolean
read_pending(int fd, GString *into)
{
    char buf[65536];

    for (;;) {
        ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

        if (n > 0) {
            g_string_append_len(into, buf, n);
            continue;
        }
        if (n == 0) {
            return FALSE;
        }
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    }
}

/* ---- QEMU -------------------------------------------------------------- */

struct FakeQemu {
    GMainContext *context;
    char *path;
    int listen_fd;
    int fd;
    gboolean reading;
    GString *received;
};

FakeQemu *
fake_qemu_new(GMainContext *context, const char *path)
{
    FakeQemu *fq = g_new0(FakeQemu, 1);

    fq->context = context;
    fq->path = g_strdup(path);
    fq->fd = -1;
    fq->reading = TRUE;
    fq->received = g_string_new(NULL);
    (void)g_unlink(path);
    fq->listen_fd = test_listen_unix(path, 1);
    return fq;
}

void
fake_qemu_free(FakeQemu *fq, gboolean remove_socket)
{
    if (!fq) {
        return;
    }
    fake_qemu_hang_up(fq);
    close(fq->listen_fd);
    if (remove_socket) {
        g_assert_cmpint(g_unlink(fq->path), ==, 0);
    }
    g_string_free(fq->received, TRUE);
    g_free(fq->path);
    g_free(fq);
}

static gboolean
try_accept(gpointer data)
{
    FakeQemu *fq = data;

    if (fq->fd < 0) {
        fq->fd =
            accept4(fq->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    }
    return fq->fd >= 0;
}

gboolean
fake_qemu_accept(FakeQemu *fq, guint timeout_ms)
{
    return test_pump_until(fq->context, try_accept, fq, timeout_ms);
}

gboolean
fake_qemu_connected(FakeQemu *fq)
{
    return fq->fd >= 0;
}

gboolean
fake_qemu_send(FakeQemu *fq, const void *data, gsize len, guint timeout_ms)
{
    const char *p = data;
    gint64 stalled_since = -1;

    g_assert_cmpint(fq->fd, >=, 0);
    while (len > 0) {
        ssize_t n = send(fq->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);

        if (n > 0) {
            p += n;
            len -= (gsize)n;
            stalled_since = -1;
            continue;
        }
        g_assert_true(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
        if (stalled_since < 0) {
            stalled_since = g_get_monotonic_time();
        } else if (g_get_monotonic_time() - stalled_since >
                   (gint64)timeout_ms * 1000) {
            return FALSE;
        }
        if (!g_main_context_iteration(fq->context, FALSE)) {
            g_usleep(100);
        }
    }
    return TRUE;
}

GString *
fake_qemu_received(FakeQemu *fq)
{
    if (fq->fd >= 0 && fq->reading) {
        (void)read_pending(fq->fd, fq->received);
    }
    return fq->received;
}

void
fake_qemu_stop_reading(FakeQemu *fq)
{
    int size = 4096;

    g_assert_cmpint(fq->fd, >=, 0);
    g_assert_cmpint(
        setsockopt(fq->fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size)), ==, 0);
    fq->reading = FALSE;
}

void
fake_qemu_hang_up(FakeQemu *fq)
{
    if (fq->fd >= 0) {
        close(fq->fd);
        fq->fd = -1;
    }
    fq->reading = TRUE;
}

/* ---- Console clients --------------------------------------------------- */

struct FakeClient {
    GMainContext *context;
    int fd;
    gboolean stalled;
    gboolean closed;
    GString *received;
};

static FakeClient *
client_new(GMainContext *context, int fd)
{
    FakeClient *fc = g_new0(FakeClient, 1);

    fc->context = context;
    fc->fd = fd;
    fc->received = g_string_new(NULL);
    return fc;
}

FakeClient *
fake_client_new_tcp(GMainContext *context, int port)
{
    struct sockaddr_in addr = {0};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    g_assert_cmpint(fd, >=, 0);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((guint16)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* Blocking connect: the bridge's listen backlog takes it at once. */
    g_assert_cmpint(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
    g_assert_true(g_unix_set_fd_nonblocking(fd, TRUE, NULL));
    return client_new(context, fd);
}

FakeClient *
fake_client_new_unix(GMainContext *context, const char *path)
{
    struct sockaddr_un addr;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    g_assert_cmpint(fd, >=, 0);
    test_sockaddr_un(&addr, path);
    g_assert_cmpint(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
    g_assert_true(g_unix_set_fd_nonblocking(fd, TRUE, NULL));
    return client_new(context, fd);
}

void
fake_client_free(FakeClient *fc)
{
    if (!fc) {
        return;
    }
    close(fc->fd);
    g_string_free(fc->received, TRUE);
    g_free(fc);
}

void
fake_client_stall(FakeClient *fc)
{
    /* Not shrinking SO_RCVBUF: a tiny TCP window makes the kernel wait on
     * its persist timer once the client reads again, which would time the
     * test, not the bridge. */
    fc->stalled = TRUE;
}

void
fake_client_resume(FakeClient *fc)
{
    fc->stalled = FALSE;
}

void
fake_client_send(FakeClient *fc, const void *data, gsize len)
{
    /* Test inputs are small; the socket buffer takes them whole. */
    g_assert_cmpint(send(fc->fd, data, len, MSG_NOSIGNAL), ==, (gssize)len);
}

GString *
fake_client_received(FakeClient *fc)
{
    if (!fc->stalled && !fc->closed && !read_pending(fc->fd, fc->received)) {
        fc->closed = TRUE;
    }
    return fc->received;
}

typedef struct {
    FakeClient *fc;
    const char *needle;
    gsize searched; /* bytes already known not to start a match */
} WaitFor;

static gboolean
has_needle(gpointer data)
{
    WaitFor *w = data;
    GString *got = fake_client_received(w->fc);
    gsize nlen = strlen(w->needle);

    /* Only look at what is new (large floods arrive in many reads). */
    if (memmem(got->str + w->searched, got->len - w->searched, w->needle,
               nlen)) {
        return TRUE;
    }
    if (got->len >= nlen) {
        w->searched = got->len - nlen + 1;
    }
    return FALSE;
}

gboolean
fake_client_wait_for(FakeClient *fc, const char *needle, guint timeout_ms)
{
    WaitFor w = {fc, needle, 0};

    return test_pump_until(fc->context, has_needle, &w, timeout_ms);
}

gboolean
fake_client_closed(FakeClient *fc)
{
    (void)fake_client_received(fc);
    return fc->closed;
}
