/*
 * loop.h - the event loop a protocol client runs on.
 *
 * Inside ipmi_sim the host owns the loop (sys_data_t's io and timer hooks,
 * see host-ipmisim.c); in unit tests and small tools a poll(2) loop with an
 * optional fake clock stands in (loop-poll.c).  Clients only ever see this
 * interface, so the same state machine runs in both places.
 *
 * Rules for users of this interface:
 *  - callbacks never block;
 *  - ask for write interest only while output is queued;
 *  - a watch or timer may be freed from inside its own callback.
 */
#pragma once

#include <glib.h>

typedef struct BmcLoop BmcLoop;
typedef struct BmcWatch BmcWatch;
typedef struct BmcTimer BmcTimer;

typedef enum {
    BMC_IO_IN = 1 << 0,
    BMC_IO_OUT = 1 << 1,
} BmcIoCondition;

/* Called when @fd is readable and/or writable (as enabled). */
typedef void (*BmcWatchFunc)(int fd, BmcIoCondition cond, gpointer data);
typedef void (*BmcTimerFunc)(gpointer data);

typedef struct {
    BmcWatch *(*watch_add)(BmcLoop *loop, int fd, BmcWatchFunc func,
                           gpointer data);
    void (*watch_set)(BmcWatch *watch, BmcIoCondition enabled);
    void (*watch_free)(BmcWatch *watch);

    BmcTimer *(*timer_new)(BmcLoop *loop, BmcTimerFunc func, gpointer data);
    /* (Re)arm a one-shot timer; an armed timer is re-armed. */
    void (*timer_start)(BmcTimer *timer, guint ms);
    void (*timer_stop)(BmcTimer *timer);
    void (*timer_free)(BmcTimer *timer);

    /* Monotonic milliseconds. */
    gint64 (*now_ms)(BmcLoop *loop);
} BmcLoopOps;

struct BmcLoop {
    const BmcLoopOps *ops;
};

static inline BmcWatch *
bmc_watch_add(BmcLoop *loop, int fd, BmcWatchFunc func, gpointer data)
{
    return loop->ops->watch_add(loop, fd, func, data);
}

static inline void
bmc_watch_set(BmcLoop *loop, BmcWatch *watch, BmcIoCondition enabled)
{
    loop->ops->watch_set(watch, enabled);
}

static inline void
bmc_watch_free(BmcLoop *loop, BmcWatch *watch)
{
    if (watch) {
        loop->ops->watch_free(watch);
    }
}

static inline BmcTimer *
bmc_timer_new(BmcLoop *loop, BmcTimerFunc func, gpointer data)
{
    return loop->ops->timer_new(loop, func, data);
}

static inline void
bmc_timer_start(BmcLoop *loop, BmcTimer *timer, guint ms)
{
    loop->ops->timer_start(timer, ms);
}

static inline void
bmc_timer_stop(BmcLoop *loop, BmcTimer *timer)
{
    loop->ops->timer_stop(timer);
}

static inline void
bmc_timer_free(BmcLoop *loop, BmcTimer *timer)
{
    if (timer) {
        loop->ops->timer_free(timer);
    }
}

static inline gint64
bmc_loop_now_ms(BmcLoop *loop)
{
    return loop->ops->now_ms(loop);
}

/* loop-poll.c: a self-contained loop for tests and tools. */
typedef struct BmcPollLoop BmcPollLoop;

/* With @fake_clock, time only moves when the loop is idle: it then jumps to
 * the next timer, so timeout paths run instantly and deterministically. */
BmcPollLoop *bmc_poll_loop_new(gboolean fake_clock);
void bmc_poll_loop_free(BmcPollLoop *pl);
BmcLoop *bmc_poll_loop_get(BmcPollLoop *pl);
/* Run one iteration, waiting at most @max_wait_ms (fake clock: for fds only).
 * Returns FALSE when there is nothing left to wait for. */
gboolean bmc_poll_loop_iterate(BmcPollLoop *pl, gint max_wait_ms);
/* Iterate until @done returns TRUE or @timeout_ms of loop time pass. */
gboolean bmc_poll_loop_run_until(BmcPollLoop *pl, gboolean (*done)(gpointer),
                                 gpointer data, gint64 timeout_ms);
/* Fake clock only: advance time and fire what is due. */
void bmc_poll_loop_advance(BmcPollLoop *pl, gint64 ms);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(BmcPollLoop, bmc_poll_loop_free)
