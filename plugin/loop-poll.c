/*
 * loop-poll.c - a poll(2) implementation of BmcLoop for unit tests and tools.
 *
 * Watches and timers are kept in plain arrays; freeing marks an entry dead
 * and the array is compacted between iterations, so a callback may free its
 * own watch or timer (or any other) safely.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>

#include "compat.h"
#include "loop.h"

struct BmcWatch {
    BmcPollLoop *pl;
    int fd;
    BmcWatchFunc func;
    gpointer data;
    BmcIoCondition enabled;
    gboolean dead;
};

struct BmcTimer {
    BmcPollLoop *pl;
    BmcTimerFunc func;
    gpointer data;
    gint64 due_ms; /* -1 when not armed */
    gboolean dead;
};

struct BmcPollLoop {
    BmcLoop loop;
    gboolean fake_clock;
    gint64 fake_now_ms;
    GPtrArray *watches; /* BmcWatch*, owned */
    GPtrArray *timers;  /* BmcTimer*, owned */
};

static gint64
poll_now_ms(BmcLoop *loop)
{
    BmcPollLoop *pl = (BmcPollLoop *)loop;

    if (pl->fake_clock) {
        return pl->fake_now_ms;
    }
    return g_get_monotonic_time() / 1000;
}

static BmcWatch *
poll_watch_add(BmcLoop *loop, int fd, BmcWatchFunc func, gpointer data)
{
    BmcPollLoop *pl = (BmcPollLoop *)loop;
    BmcWatch *w = g_new0(BmcWatch, 1);

    w->pl = pl;
    w->fd = fd;
    w->func = func;
    w->data = data;
    w->enabled = BMC_IO_IN;
    g_ptr_array_add(pl->watches, w);
    return w;
}

static void
poll_watch_set(BmcWatch *w, BmcIoCondition enabled)
{
    w->enabled = enabled;
}

static void
poll_watch_free(BmcWatch *w)
{
    w->dead = TRUE;
    w->enabled = 0;
}

static BmcTimer *
poll_timer_new(BmcLoop *loop, BmcTimerFunc func, gpointer data)
{
    BmcPollLoop *pl = (BmcPollLoop *)loop;
    BmcTimer *t = g_new0(BmcTimer, 1);

    t->pl = pl;
    t->func = func;
    t->data = data;
    t->due_ms = -1;
    g_ptr_array_add(pl->timers, t);
    return t;
}

static void
poll_timer_start(BmcTimer *t, guint ms)
{
    t->due_ms = poll_now_ms(&t->pl->loop) + ms;
}

static void
poll_timer_stop(BmcTimer *t)
{
    t->due_ms = -1;
}

static void
poll_timer_free(BmcTimer *t)
{
    t->dead = TRUE;
    t->due_ms = -1;
}

static const BmcLoopOps poll_ops = {
    .watch_add = poll_watch_add,
    .watch_set = poll_watch_set,
    .watch_free = poll_watch_free,
    .timer_new = poll_timer_new,
    .timer_start = poll_timer_start,
    .timer_stop = poll_timer_stop,
    .timer_free = poll_timer_free,
    .now_ms = poll_now_ms,
};

BmcPollLoop *
bmc_poll_loop_new(gboolean fake_clock)
{
    BmcPollLoop *pl = g_new0(BmcPollLoop, 1);

    pl->loop.ops = &poll_ops;
    pl->fake_clock = fake_clock;
    pl->fake_now_ms = 1000000;
    pl->watches = g_ptr_array_new_with_free_func(g_free);
    pl->timers = g_ptr_array_new_with_free_func(g_free);
    return pl;
}

void
bmc_poll_loop_free(BmcPollLoop *pl)
{
    if (!pl) {
        return;
    }
    g_ptr_array_unref(pl->watches);
    g_ptr_array_unref(pl->timers);
    g_free(pl);
}

BmcLoop *
bmc_poll_loop_get(BmcPollLoop *pl)
{
    return &pl->loop;
}

static void
compact(GPtrArray *arr, gsize dead_offset)
{
    for (guint i = 0; i < arr->len;) {
        gboolean dead =
            G_STRUCT_MEMBER(gboolean, g_ptr_array_index(arr, i), dead_offset);
        if (dead) {
            g_ptr_array_remove_index(arr, i);
        } else {
            i++;
        }
    }
}

static gint64
next_due(BmcPollLoop *pl)
{
    gint64 due = -1;

    for (guint i = 0; i < pl->timers->len; i++) {
        BmcTimer *t = g_ptr_array_index(pl->timers, i);
        if (t->due_ms >= 0 && (due < 0 || t->due_ms < due)) {
            due = t->due_ms;
        }
    }
    return due;
}

/* Fire each timer due at @now once; timers armed by callbacks wait for the
 * next round. */
static gboolean
fire_due_timers(BmcPollLoop *pl)
{
    gint64 now = poll_now_ms(&pl->loop);
    g_autoptr(GPtrArray) due = g_ptr_array_new();
    gboolean fired = FALSE;

    for (guint i = 0; i < pl->timers->len; i++) {
        BmcTimer *t = g_ptr_array_index(pl->timers, i);
        if (t->due_ms >= 0 && t->due_ms <= now) {
            g_ptr_array_add(due, t);
        }
    }
    for (guint i = 0; i < due->len; i++) {
        BmcTimer *t = g_ptr_array_index(due, i);
        if (!t->dead && t->due_ms >= 0 && t->due_ms <= now) {
            t->due_ms = -1;
            t->func(t->data);
            fired = TRUE;
        }
    }
    return fired;
}

gboolean
bmc_poll_loop_iterate(BmcPollLoop *pl, gint max_wait_ms)
{
    g_autofree struct pollfd *pfds = NULL;
    g_autoptr(GPtrArray) active = g_ptr_array_new();
    gint64 due;
    gint wait_ms = max_wait_ms;
    int n;

    compact(pl->watches, G_STRUCT_OFFSET(BmcWatch, dead));
    compact(pl->timers, G_STRUCT_OFFSET(BmcTimer, dead));

    if (fire_due_timers(pl)) {
        return TRUE;
    }

    for (guint i = 0; i < pl->watches->len; i++) {
        BmcWatch *w = g_ptr_array_index(pl->watches, i);
        if (w->enabled) {
            g_ptr_array_add(active, w);
        }
    }
    due = next_due(pl);
    if (active->len == 0 && due < 0) {
        return FALSE;
    }

    if (pl->fake_clock) {
        wait_ms = 0;
    } else if (due >= 0) {
        gint64 until = due - poll_now_ms(&pl->loop);
        wait_ms =
            (gint)CLAMP(until, 0, max_wait_ms < 0 ? G_MAXINT : max_wait_ms);
    }

    pfds = g_new0(struct pollfd, MAX(active->len, 1));
    for (guint i = 0; i < active->len; i++) {
        BmcWatch *w = g_ptr_array_index(active, i);
        pfds[i].fd = w->fd;
        pfds[i].events = ((w->enabled & BMC_IO_IN) ? POLLIN : 0) |
                         ((w->enabled & BMC_IO_OUT) ? POLLOUT : 0);
    }
    n = poll(pfds, active->len, wait_ms);
    if (n < 0) {
        if (errno == EINTR) {
            return TRUE; /* fds may be ready: do not let fake time jump */
        }
        g_warning("poll: %s", bmc_strerror(errno));
        return FALSE;
    }
    if (n > 0) {
        for (guint i = 0; i < active->len; i++) {
            BmcWatch *w = g_ptr_array_index(active, i);
            BmcIoCondition cond = 0;

            /* An earlier callback of this round may have freed or
             * disabled this watch. */
            if (w->dead || !w->enabled || !pfds[i].revents) {
                continue;
            }
            /* Errors and hang-ups are delivered as readable: the reader
             * then sees EOF or the error from read(). */
            if (pfds[i].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) {
                cond |= BMC_IO_IN;
            }
            if (pfds[i].revents & POLLOUT) {
                cond |= BMC_IO_OUT;
            }
            cond &= w->enabled | BMC_IO_IN;
            if (cond) {
                w->func(w->fd, cond, w->data);
            }
        }
        return TRUE;
    }
    if (pl->fake_clock && due >= 0) {
        /* Idle: jump to the next timer. */
        pl->fake_now_ms = MAX(pl->fake_now_ms, due);
    }
    fire_due_timers(pl);
    return TRUE;
}

gboolean
bmc_poll_loop_run_until(BmcPollLoop *pl, gboolean (*done)(gpointer),
                        gpointer data, gint64 timeout_ms)
{
    gint64 start = poll_now_ms(&pl->loop);
    /* Real time bounds a fake-clock loop that spins on fds. */
    gint64 real_deadline = g_get_monotonic_time() / 1000 + 30000;

    while (!done(data)) {
        if (poll_now_ms(&pl->loop) - start > timeout_ms ||
            g_get_monotonic_time() / 1000 > real_deadline) {
            return FALSE;
        }
        if (!bmc_poll_loop_iterate(pl, 50)) {
            return done(data);
        }
    }
    return TRUE;
}

void
bmc_poll_loop_advance(BmcPollLoop *pl, gint64 ms)
{
    g_return_if_fail(pl->fake_clock);
    pl->fake_now_ms += ms;
    fire_due_timers(pl);
}
