/*
 * compat.h - small helpers GLib 2.74 (Debian 12) lacks.
 */
#pragma once

#include <errno.h>
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
