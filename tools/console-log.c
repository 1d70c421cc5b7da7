/*
 * console-log.c - size-capped, rotated console log.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "console-log.h"

G_DEFINE_QUARK(qemu_bmc_console_log_error, console_log_error)

struct ConsoleLog {
    char *path;
    goffset max_bytes;
    guint keep;
    int fd;       /* -1 after a failed rotation: reopened on next write */
    goffset size; /* bytes in the current file */
    guint64 rotations;
};

static int
open_current(const char *path, gboolean truncate, goffset *size, GError **error)
{
    int flags = O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY;
    struct stat st;
    int fd;

    if (truncate) {
        flags |= O_TRUNC;
    }
    fd = open(path, flags, 0600);
    if (fd < 0) {
        int err = errno;
        g_set_error(error, CONSOLE_LOG_ERROR, CONSOLE_LOG_ERROR_IO,
                    "cannot open %s: %s", path, g_strerror(err));
        return -1;
    }
    if (fstat(fd, &st) < 0) {
        int err = errno;
        close(fd);
        g_set_error(error, CONSOLE_LOG_ERROR, CONSOLE_LOG_ERROR_IO,
                    "cannot stat %s: %s", path, g_strerror(err));
        return -1;
    }
    *size = st.st_size;
    return fd;
}

ConsoleLog *
console_log_open(const char *path, goffset max_bytes, guint keep,
                 GError **error)
{
    ConsoleLog *log;
    goffset size = 0;
    int fd;

    if (max_bytes < CONSOLE_LOG_MIN_SIZE) {
        g_set_error(error, CONSOLE_LOG_ERROR, CONSOLE_LOG_ERROR_ARGS,
                    "log size %" G_GINT64_FORMAT " is below the minimum %d",
                    (gint64)max_bytes, CONSOLE_LOG_MIN_SIZE);
        return NULL;
    }
    if (keep > CONSOLE_LOG_MAX_KEEP) {
        g_set_error(error, CONSOLE_LOG_ERROR, CONSOLE_LOG_ERROR_ARGS,
                    "%u rotated log files: at most %d", keep,
                    CONSOLE_LOG_MAX_KEEP);
        return NULL;
    }
    fd = open_current(path, FALSE, &size, error);
    if (fd < 0) {
        return NULL;
    }
    log = g_new0(ConsoleLog, 1);
    log->path = g_strdup(path);
    log->max_bytes = max_bytes;
    log->keep = keep;
    log->fd = fd;
    log->size = size;
    return log;
}

void
console_log_close(ConsoleLog *log)
{
    if (!log) {
        return;
    }
    if (log->fd >= 0) {
        close(log->fd);
    }
    g_free(log->path);
    g_free(log);
}

static char *
rotated_name(ConsoleLog *log, guint n)
{
    return g_strdup_printf("%s.%u", log->path, n);
}

/* PATH.(keep-1) -> PATH.keep, ..., PATH -> PATH.1, then a new empty PATH.
 * A missing file in the chain is normal (fewer rotations so far). */
static gboolean
rotate(ConsoleLog *log, GError **error)
{
    if (log->fd >= 0) {
        close(log->fd);
        log->fd = -1;
    }
    for (guint n = log->keep; n > 1; n--) {
        g_autofree char *from = rotated_name(log, n - 1);
        g_autofree char *to = rotated_name(log, n);

        if (rename(from, to) < 0 && errno != ENOENT) {
            int err = errno;
            g_set_error(error, CONSOLE_LOG_ERROR, CONSOLE_LOG_ERROR_IO,
                        "cannot rename %s: %s", from, g_strerror(err));
            return FALSE;
        }
    }
    if (log->keep > 0) {
        g_autofree char *to = rotated_name(log, 1);

        if (rename(log->path, to) < 0 && errno != ENOENT) {
            int err = errno;
            g_set_error(error, CONSOLE_LOG_ERROR, CONSOLE_LOG_ERROR_IO,
                        "cannot rename %s: %s", log->path, g_strerror(err));
            return FALSE;
        }
    }
    log->fd = open_current(log->path, TRUE, &log->size, error);
    if (log->fd < 0) {
        return FALSE;
    }
    log->rotations++;
    return TRUE;
}

static gboolean
write_all(ConsoleLog *log, const guint8 *data, gsize len, GError **error)
{
    while (len > 0) {
        ssize_t n = write(log->fd, data, len);

        if (n < 0) {
            int err = errno;
            if (err == EINTR) {
                continue;
            }
            g_set_error(error, CONSOLE_LOG_ERROR, CONSOLE_LOG_ERROR_IO,
                        "cannot write %s: %s", log->path, g_strerror(err));
            return FALSE;
        }
        data += n;
        len -= (gsize)n;
        log->size += n;
    }
    return TRUE;
}

gboolean
console_log_write(ConsoleLog *log, const guint8 *data, gsize len,
                  GError **error)
{
    if (log->fd < 0 && !rotate(log, error)) {
        return FALSE;
    }
    while (len > 0) {
        gsize room = log->size < log->max_bytes
                         ? (gsize)(log->max_bytes - log->size)
                         : 0;
        gsize n = len;

        if (len > room) {
            /* Cut after the last line that fits.  If none does, start a
             * new file when a line ends in @data (so that line is not
             * split); a flood without newlines fills the file exactly. */
            const guint8 *nl = room > 0 ? memrchr(data, '\n', room) : NULL;

            if (nl) {
                n = (gsize)(nl - data) + 1;
            } else if (log->size > 0 && memchr(data, '\n', len)) {
                n = 0;
            } else {
                n = room;
            }
        }
        if (n == 0) {
            if (!rotate(log, error)) {
                return FALSE;
            }
            continue;
        }
        if (!write_all(log, data, n, error)) {
            return FALSE;
        }
        data += n;
        len -= n;
    }
    return TRUE;
}

gboolean
console_log_sync(ConsoleLog *log, GError **error)
{
    if (log->fd >= 0 && fdatasync(log->fd) < 0) {
        int err = errno;
        g_set_error(error, CONSOLE_LOG_ERROR, CONSOLE_LOG_ERROR_IO,
                    "cannot sync %s: %s", log->path, g_strerror(err));
        return FALSE;
    }
    return TRUE;
}

goffset
console_log_get_size(ConsoleLog *log)
{
    return log->size;
}

guint64
console_log_get_rotations(ConsoleLog *log)
{
    return log->rotations;
}
