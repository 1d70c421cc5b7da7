/*
 * host-ipmisim.c - BmcLoop on ipmi_sim's own event loop (sys_data_t hooks).
 *
 * Facts of ipmi_sim 2.0.33 this relies on:
 *  - add_io_hnd leaves the write/except handlers unset: io_set_hnds must
 *    follow at once;
 *  - remove_io_hnd does not free the handle it returned, and free_timer
 *    does not free the timer wrapper: both were malloc()ed by ipmi_sim, so
 *    we free() them;
 *  - start_timer on a running timer fails, so restarting stops it first.
 */
#include "config.h"

#include <stdlib.h>

#include <OpenIPMI/serv.h>

#include "compat.h"
#include "host-ipmisim.h"

typedef struct {
    BmcLoop loop;
    sys_data_t *sys;
} HostLoop;

struct BmcWatch {
    sys_data_t *sys;
    ipmi_io_t *io;
    BmcWatchFunc func;
    gpointer data;
};

struct BmcTimer {
    sys_data_t *sys;
    ipmi_timer_t *timer;
    BmcTimerFunc func;
    gpointer data;
};

static void
io_read(int fd, void *cb_data)
{
    BmcWatch *w = cb_data;

    w->func(fd, BMC_IO_IN, w->data);
}

static void
io_write(int fd, void *cb_data)
{
    BmcWatch *w = cb_data;

    w->func(fd, BMC_IO_OUT, w->data);
}

static BmcWatch *
host_watch_add(BmcLoop *loop, int fd, BmcWatchFunc func, gpointer data)
{
    sys_data_t *sys = ((HostLoop *)loop)->sys;
    BmcWatch *w = g_new0(BmcWatch, 1);
    int rv;

    w->sys = sys;
    w->func = func;
    w->data = data;
    rv = sys->add_io_hnd(sys, fd, io_read, w, &w->io);
    if (rv) {
        /* Only fails when ipmi_sim is out of memory. */
        g_error("add_io_hnd(%d): %s", fd, bmc_strerror(rv));
    }
    /* Errors (except) are delivered as readable, like poll's POLLERR. */
    sys->io_set_hnds(w->io, io_write, io_read);
    sys->io_set_enables(w->io, 1, 0, 0);
    return w;
}

static void
host_watch_set(BmcWatch *w, BmcIoCondition enabled)
{
    w->sys->io_set_enables(w->io, !!(enabled & BMC_IO_IN),
                           !!(enabled & BMC_IO_OUT), 0);
}

static void
host_watch_free(BmcWatch *w)
{
    w->sys->io_set_enables(w->io, 0, 0, 0);
    w->sys->remove_io_hnd(w->io);
    free(w->io);
    g_free(w);
}

static void
timer_fired(void *cb_data)
{
    BmcTimer *t = cb_data;

    t->func(t->data);
}

static BmcTimer *
host_timer_new(BmcLoop *loop, BmcTimerFunc func, gpointer data)
{
    sys_data_t *sys = ((HostLoop *)loop)->sys;
    BmcTimer *t = g_new0(BmcTimer, 1);
    int rv;

    t->sys = sys;
    t->func = func;
    t->data = data;
    rv = sys->alloc_timer(sys, timer_fired, t, &t->timer);
    if (rv) {
        g_error("alloc_timer: %s", bmc_strerror(rv));
    }
    return t;
}

static void
host_timer_start(BmcTimer *t, guint ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};

    t->sys->stop_timer(t->timer); /* fails harmlessly when not running */
    t->sys->start_timer(t->timer, &tv);
}

static void
host_timer_stop(BmcTimer *t)
{
    t->sys->stop_timer(t->timer);
}

static void
host_timer_free(BmcTimer *t)
{
    t->sys->stop_timer(t->timer);
    t->sys->free_timer(t->timer);
    free(t->timer);
    g_free(t);
}

static gint64
host_now_ms(BmcLoop *loop)
{
    sys_data_t *sys = ((HostLoop *)loop)->sys;
    struct timeval tv;

    sys->get_monotonic_time(sys, &tv);
    return (gint64)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static const BmcLoopOps host_ops = {
    .watch_add = host_watch_add,
    .watch_set = host_watch_set,
    .watch_free = host_watch_free,
    .timer_new = host_timer_new,
    .timer_start = host_timer_start,
    .timer_stop = host_timer_stop,
    .timer_free = host_timer_free,
    .now_ms = host_now_ms,
};

BmcLoop *
bmc_host_loop_new(sys_data_t *sys)
{
    HostLoop *hl = g_new0(HostLoop, 1);

    hl->loop.ops = &host_ops;
    hl->sys = sys;
    return &hl->loop;
}
