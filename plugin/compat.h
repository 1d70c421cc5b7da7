/*
 * compat.h - small helpers GLib 2.74 (Debian 12) lacks.
 */
#pragma once

#include <errno.h>
#include <string.h>
#include <glib.h>
#include <unistd.h>

/* g_autofd arrived in GLib 2.76. */
static inline void
bmc_close_fd(int *fd)
{
    if (*fd >= 0) {
        int saved = errno;
        (void)close(*fd);
        errno = saved;
        *fd = -1;
    }
}
#define bmc_autofd __attribute__((cleanup(bmc_close_fd)))

static inline int
bmc_steal_fd(int *fd)
{
    int r = *fd;
    *fd = -1;
    return r;
}

/* An errno's description, in English and ASCII whatever the locale.
 * g_strerror() converts strerror()'s text from the locale's charset: in
 * the C locale ipmi_sim runs in, its first call per errno loads iconv and
 * the gconv cache into ipmi_sim (about 0.1 MB resident, doc/benchmarks.md)
 * for text that is ASCII anyway. */
static inline const char *
bmc_strerror(int err)
{
    const char *text = strerrordesc_np(err);

    return text ? text : "Unknown error";
}
