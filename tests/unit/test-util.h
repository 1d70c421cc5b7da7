/*
 * test-util.h - helpers shared by the unit tests and their fakes.
 *
 * All static inline, so a test program needs no extra source file for them.
 */
#pragma once

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <glib.h>
#include <glib/gstdio.h>

/* ---- Temporary directory ---------------------------------------------- */

/* A new empty directory under the system temp dir; @tmpl as for
 * g_dir_make_tmp(), e.g. "test-foo-XXXXXX". */
static inline char *
test_tmpdir_new(const char *tmpl)
{
    g_autoptr(GError) error = NULL;
    char *dir = g_dir_make_tmp(tmpl, &error);

    g_assert_no_error(error);
    return dir;
}

/* Remove @dir and free the string.  Not recursive, on purpose: whatever the
 * test put there must be gone by now (the fakes remove their sockets), and
 * anything left over fails the test. */
static inline void
test_tmpdir_free(char *dir)
{
    g_assert_cmpint(g_rmdir(dir), ==, 0);
    g_free(dir);
}

/* Remove @path and everything below it, for fixtures whose code under test
 * writes files of its own (state, markers). */
static inline void
test_remove_tree(const char *path)
{
    g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
    const char *name;

    while (dir && (name = g_dir_read_name(dir))) {
        g_autofree char *child = g_build_filename(path, name, NULL);

        if (g_file_test(child, G_FILE_TEST_IS_DIR)) {
            test_remove_tree(child);
        } else {
            g_unlink(child);
        }
    }
    g_rmdir(path);
}

/* ---- Fake servers ----------------------------------------------------- */

/* Fail the running test with "@who: message".  The message also goes to
 * stderr at once: g_test_fail_printf() keeps only the last one,
 * g_test_message() is silent outside TAP or verbose mode, and a later
 * assertion in the test may abort before GTest reports the failure. */
static inline void test_fail_printf(const char *who, const char *fmt, ...)
    G_GNUC_PRINTF(2, 3);

static inline void
test_fail_printf(const char *who, const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    va_list ap;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_printerr("%s: %s\n", who, msg);
    g_test_fail_printf("%s: %s", who, msg);
}

/* Fill @addr with the unix socket address @path, which must fit. */
static inline void
test_sockaddr_un(struct sockaddr_un *addr, const char *path)
{
    memset(addr, 0, sizeof(*addr));
    addr->sun_family = AF_UNIX;
    g_assert_cmpuint(strlen(path), <, sizeof(addr->sun_path));
    strcpy(addr->sun_path, path);
}

/* A non-blocking, close-on-exec unix stream socket listening on @path
 * (which must not exist yet) with @backlog; aborts the test on failure. */
static inline int
test_listen_unix(const char *path, int backlog)
{
    struct sockaddr_un addr;
    int fd;

    test_sockaddr_un(&addr, path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    g_assert_cmpint(fd, >=, 0);
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
        listen(fd, backlog) < 0) {
        g_error("cannot listen on %s: %s", path, g_strerror(errno));
    }
    return fd;
}
