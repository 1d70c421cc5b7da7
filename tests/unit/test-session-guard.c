/*
 * test-session-guard.c - the session guard against the real lanserv.
 *
 * Links OpenIPMI's libIPMIlanserv, the code ipmi_sim runs: a LAN channel
 * is set up with ipmi_lan_init() and fed datagrams with
 * ipmi_handle_lan_msg(), as ipmi_sim does, so what is checked is lanserv's
 * own session table and replies.  Time is the poll loop's fake clock.
 */
#include "config.h"

#include <netinet/in.h>
#include <string.h>

#include <OpenIPMI/ipmi_auth.h>
#include <OpenIPMI/lanserv.h>
#include <OpenIPMI/persist.h>
#include <OpenIPMI/serv.h>

#include "loop.h"
#include "session-guard.h"

#define RMCPP_INSUFFICIENT_RESOURCES 0x01

typedef struct {
    sys_data_t sys;
    lanserv_data_t lan;
    user_t users[MAX_USERS + 1];
    unsigned char guid[16];
    /* The last reply lanserv sent. */
    guint8 reply[512];
    gsize reply_len;
    guint32 next_console_sid;
} Bmc;

static void
fake_log(sys_data_t *sys, int logtype, msg_t *msg, const char *format, ...)
{
}

static void
register_tick(ipmi_tick_handler_t *handler)
{
    /* The tests call the tick themselves. */
}

static void *
chan_alloc(channel_t *chan, int size)
{
    return g_malloc0(size);
}

static void
chan_free(channel_t *chan, void *data)
{
    g_free(data);
}

static int
gen_rand(lanserv_data_t *lan, void *data, int size)
{
    for (int i = 0; i < size; i++) {
        ((guint8 *)data)[i] = (guint8)g_random_int();
    }
    return 0;
}

static void
send_out(lanserv_data_t *lan, struct iovec *data, int vecs, void *addr,
         int addr_len)
{
    Bmc *bmc = lan->user_info;

    bmc->reply_len = 0;
    for (int i = 0; i < vecs; i++) {
        g_assert_cmpuint(bmc->reply_len + data[i].iov_len, <=,
                         sizeof(bmc->reply));
        memcpy(bmc->reply + bmc->reply_len, data[i].iov_base, data[i].iov_len);
        bmc->reply_len += data[i].iov_len;
    }
}

static Bmc *
bmc_new(void)
{
    Bmc *bmc = g_new0(Bmc, 1);

    bmc->sys.log = fake_log;
    bmc->sys.register_tick_handler = register_tick;
    memset(bmc->guid, 0x5a, sizeof(bmc->guid));
    bmc->users[2].valid = 1;
    memcpy(bmc->users[2].username, "admin", 5);
    memcpy(bmc->users[2].pw, "secret", 6);
    bmc->users[2].privilege = 4;
    bmc->users[2].max_sessions = 10;
    for (int i = 0; i <= MAX_USERS; i++) {
        bmc->users[i].idx = i;
    }
    bmc->lan.sysinfo = &bmc->sys;
    bmc->lan.users = bmc->users;
    bmc->lan.guid = bmc->guid;
    bmc->lan.user_info = bmc;
    bmc->lan.send_out = send_out;
    bmc->lan.gen_rand = gen_rand;
    bmc->lan.channel.chan_info = &bmc->lan;
    bmc->lan.channel.channel_num = 1;
    bmc->lan.channel.medium_type = 4;
    bmc->lan.channel.alloc = chan_alloc;
    bmc->lan.channel.free = chan_free;
    bmc->lan.channel.priv_info[3].allowed_auths = 0x04;
    g_assert_cmpint(ipmi_lan_init(&bmc->lan), ==, 0);
    bmc->next_console_sid = 0x1000;
    return bmc;
}

static void
bmc_free(Bmc *bmc)
{
    /* Close what is left the way ipmi_sim would, at the end of time. */
    bmc->lan.tick_handler.handler(bmc->lan.tick_handler.info, 1u << 30);
    g_assert_cmpuint(bmc->lan.channel.active_sessions, ==, 0);
    /* The key ipmi_lan_init() made for Get Session Challenge. */
    ipmi_auths[IPMI_AUTHTYPE_MD5].authcode_cleanup(bmc->lan.challenge_auth);
    g_free(bmc);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(Bmc, bmc_free)

static void
feed(Bmc *bmc, const guint8 *pkt, gsize len)
{
    struct sockaddr_in from = {.sin_family = AF_INET, .sin_port = htons(9)};
    guint8 copy[256];

    memcpy(copy, pkt, len);
    bmc->reply_len = 0;
    ipmi_handle_lan_msg(&bmc->lan, copy, (int)len, &from, sizeof(from));
}

/* An RMCP+ Open Session request for cipher suite 3; returns the status
 * code of the reply and the BMC's session id in @sid. */
static guint8
open_session(Bmc *bmc, guint32 *sid)
{
    guint8 pkt[16 + 32] = {0x06, 0x00, 0xff, 0x07, 0x06, 0x10};
    guint8 *p = pkt + 16;
    guint32 csid = bmc->next_console_sid++;

    pkt[14] = 32;
    p[1] = 4; /* administrator */
    memcpy(p + 4, &csid, 4);
    p[8] = 0, p[11] = 8, p[12] = 1;  /* RAKP-HMAC-SHA1 */
    p[16] = 1, p[19] = 8, p[20] = 1; /* HMAC-SHA1-96 */
    p[24] = 2, p[27] = 8, p[28] = 1; /* AES-CBC-128 */
    feed(bmc, pkt, sizeof(pkt));
    g_assert_cmpuint(bmc->reply_len, >=, 16 + 2);
    g_assert_cmpuint(bmc->reply[5] & 0x3f, ==, 0x11);
    if (bmc->reply[16 + 1] == 0) {
        memcpy(sid, bmc->reply + 16 + 8, 4);
    }
    return bmc->reply[16 + 1];
}

/* RAKP 1 for "admin" on session @sid: the session stays in RAKP. */
static void
rakp1(Bmc *bmc, guint32 sid)
{
    guint8 pkt[16 + 33] = {0x06, 0x00, 0xff, 0x07, 0x06, 0x12};
    guint8 *p = pkt + 16;

    pkt[14] = 33;
    memcpy(p + 4, &sid, 4);
    p[24] = 0x14;
    p[27] = 5;
    memcpy(p + 28, "admin", 5);
    feed(bmc, pkt, sizeof(pkt));
    g_assert_cmpuint(bmc->reply_len, >=, 16 + 2);
    g_assert_cmpuint(bmc->reply[5] & 0x3f, ==, 0x13);
    g_assert_cmpuint(bmc->reply[16 + 1], ==, 0);
}

/* Let @n scan periods pass, one at a time (the fake clock fires a timer
 * once per advance). */
static void
scans(BmcPollLoop *pl, guint n)
{
    for (guint i = 0; i < n; i++) {
        bmc_poll_loop_advance(pl, SESSION_GUARD_SCAN_MS);
    }
}

static void
fill_table(Bmc *bmc)
{
    guint32 sid = 0;

    for (guint i = 0; i < MAX_SESSIONS; i++) {
        g_assert_cmpuint(open_session(bmc, &sid), ==, 0);
        if (i % 2) {
            rakp1(bmc, sid);
        }
    }
    g_assert_cmpuint(bmc->lan.channel.active_sessions, ==, MAX_SESSIONS);
    g_assert_cmpuint(open_session(bmc, &sid), ==, RMCPP_INSUFFICIENT_RESOURCES);
}

/* A LAN channel with a guard (limit 3 s) on the fake clock. */
typedef struct {
    Bmc *bmc;
    BmcPollLoop *pl;
    SessionGuard *guard;
} Fixture;

static void
fixture_setup(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;

    f->bmc = bmc_new();
    f->pl = bmc_poll_loop_new(TRUE);
    f->guard = session_guard_new(bmc_poll_loop_get(f->pl), &f->bmc->lan,
                                 &f->bmc->sys, 3000, &error);
    g_assert_no_error(error);
    g_assert_nonnull(f->guard);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
    session_guard_free(f->guard);
    bmc_poll_loop_free(f->pl);
    bmc_free(f->bmc);
}

static void
test_layout_accepted(void)
{
    g_autoptr(Bmc) bmc = bmc_new();
    g_autoptr(GError) error = NULL;

    g_assert_true(session_guard_check_layout(&bmc->lan, &bmc->sys, &error));
    g_assert_no_error(error);
}

/* A table full of sessions stuck in RAKP: stock lanserv refuses logins
 * until its 30 s timeout; the guard frees them after its limit. */
static void
test_evicts_stuck_sessions(Fixture *f, gconstpointer data)
{
    guint32 sid = 0;

    fill_table(f->bmc);

    /* Not before the limit. */
    scans(f->pl, 2);
    g_assert_cmpuint(session_guard_evicted(f->guard), ==, 0);
    g_assert_cmpuint(open_session(f->bmc, &sid), ==,
                     RMCPP_INSUFFICIENT_RESOURCES);

    /* First seen at the first scan (1 s), so gone by 1 s + limit. */
    scans(f->pl, 2);
    g_assert_cmpuint(session_guard_evicted(f->guard), ==, MAX_SESSIONS);
    g_assert_cmpuint(f->bmc->lan.channel.active_sessions, ==, 0);
    for (guint i = 1; i <= MAX_SESSIONS; i++) {
        g_assert_false(f->bmc->lan.sessions[i].active);
        g_assert_null(f->bmc->lan.sessions[i].src_addr);
    }
    g_assert_cmpuint(open_session(f->bmc, &sid), ==, 0);
    g_assert_true(session_guard_active(f->guard));
}

/* Sessions past RAKP and IPMI 1.5 ones are not the guard's business, nor
 * a new session that took the slot of an evicted one. */
static void
test_spares_other_sessions(Fixture *f, gconstpointer data)
{
    guint32 sid = 0;
    session_t *s;

    g_assert_cmpuint(open_session(f->bmc, &sid), ==, 0);
    s = &f->bmc->lan.sessions[(sid >> 1) & SESSION_MASK];
    /* What a good RAKP 3 does to the session (the test does not compute
     * the HMACs): the session is established. */
    s->in_startup = 0;
    g_assert_cmpuint(open_session(f->bmc, &sid), ==, 0);
    s = &f->bmc->lan.sessions[(sid >> 1) & SESSION_MASK];
    /* An IPMI 1.5 session on a slot an aborted RMCP+ login left with
     * in_startup set (lanserv does not clear it). */
    s->rmcpplus = 0;

    scans(f->pl, 10);
    g_assert_cmpuint(session_guard_evicted(f->guard), ==, 0);
    g_assert_cmpuint(f->bmc->lan.channel.active_sessions, ==, 2);
}

static void
test_new_session_in_old_slot_restarts_clock(Fixture *f, gconstpointer data)
{
    guint32 sid = 0, sid2 = 0;

    g_assert_cmpuint(open_session(f->bmc, &sid), ==, 0);
    scans(f->pl, 3);
    /* lanserv closes it (its own error path) and reuses the slot. */
    f->bmc->lan.sessions[(sid >> 1) & SESSION_MASK].time_left = 0;
    f->bmc->lan.tick_handler.handler(f->bmc->lan.tick_handler.info, 0);
    g_assert_cmpuint(open_session(f->bmc, &sid2), ==, 0);
    g_assert_cmpuint((sid2 >> 1) & SESSION_MASK, ==, (sid >> 1) & SESSION_MASK);
    g_assert_cmpuint(sid2, !=, sid);
    scans(f->pl, 2);
    g_assert_cmpuint(session_guard_evicted(f->guard), ==, 0);
    scans(f->pl, 2);
    g_assert_cmpuint(session_guard_evicted(f->guard), ==, 1);
}

/* A nearly full table of logged-in sessions that clients left without
 * closing: the longest-idle ones go until SESSION_GUARD_RESERVE slots are
 * free; sessions idle less than SESSION_GUARD_IDLE_S stay. */
static guint sol_closes;

static void
sol_closed(lmc_data_t *mc, uint32_t session_id, void *cb_data)
{
    sol_closes++;
}

static void
test_frees_idle_sessions_when_nearly_full(Fixture *f, gconstpointer data)
{
    guint timeout = f->bmc->lan.default_session_timeout;
    guint32 sid = 0;
    guint old = 0;

    fill_table(f->bmc);
    for (guint i = 1; i <= MAX_SESSIONS; i++) {
        session_t *s = &f->bmc->lan.sessions[i];

        s->in_startup = 0;
        /* Ten idle for 20 s, the rest for less than the minimum. */
        s->time_left = i % 6 == 0 ? timeout - 20 : timeout - 4 + i % 3;
    }
    /* The idlest of all, but with SOL active: kept. */
    f->bmc->lan.sessions[6].time_left = timeout - 25;
    f->bmc->lan.sessions[6].closers[1].close_cb = sol_closed;
    scans(f->pl, 1);
    g_assert_cmpuint(session_guard_evicted(f->guard), ==,
                     SESSION_GUARD_RESERVE);
    g_assert_cmpuint(f->bmc->lan.channel.active_sessions, ==,
                     MAX_SESSIONS - SESSION_GUARD_RESERVE);
    for (guint i = 1; i <= MAX_SESSIONS; i++) {
        session_t *s = &f->bmc->lan.sessions[i];

        if (i % 6 == 0) {
            old += s->active;
        } else {
            g_assert_true(s->active);
        }
    }
    g_assert_true(f->bmc->lan.sessions[6].active);
    g_assert_cmpuint(sol_closes, ==, 0);
    g_assert_cmpuint(old, ==, MAX_SESSIONS / 6 - SESSION_GUARD_RESERVE);
    g_assert_cmpuint(open_session(f->bmc, &sid), ==, 0);

    /* The new login took a slot of the reserve: the next idlest goes,
     * and no busy one, however many scans. */
    scans(f->pl, 3);
    g_assert_cmpuint(session_guard_evicted(f->guard), ==,
                     SESSION_GUARD_RESERVE + 1);
    g_assert_cmpuint(f->bmc->lan.channel.active_sessions, ==,
                     MAX_SESSIONS - SESSION_GUARD_RESERVE);
}

/* Full, but every session is busy (idle under the minimum): none is
 * taken from its client. */
static void
test_spares_busy_sessions_when_full(Fixture *f, gconstpointer data)
{
    guint timeout = f->bmc->lan.default_session_timeout;

    fill_table(f->bmc);
    for (guint i = 1; i <= MAX_SESSIONS; i++) {
        f->bmc->lan.sessions[i].in_startup = 0;
        f->bmc->lan.sessions[i].time_left = timeout - SESSION_GUARD_IDLE_S + 1;
    }
    scans(f->pl, 5);
    g_assert_cmpuint(session_guard_evicted(f->guard), ==, 0);
    g_assert_cmpuint(f->bmc->lan.channel.active_sessions, ==, MAX_SESSIONS);
}

/* A table that is not 2.0.33's: refused, and nothing is written. */
static void
test_refuses_unknown_layout(void)
{
    g_autoptr(Bmc) bmc = bmc_new();
    g_autoptr(BmcPollLoop) pl = bmc_poll_loop_new(TRUE);
    g_autoptr(GError) error = NULL;
    g_autofree lanserv_data_t *before = NULL;
    SessionGuard *guard;

    bmc->lan.sessions[7].handle = 8;
    before = g_memdup2(&bmc->lan, sizeof(bmc->lan));
    guard = session_guard_new(bmc_poll_loop_get(pl), &bmc->lan, &bmc->sys, 3000,
                              &error);
    g_assert_null(guard);
    g_assert_error(error, BMC_SESSION_GUARD_ERROR, 0);
    g_assert_nonnull(strstr(error->message, "slot 7"));
    g_assert_cmpmem(&bmc->lan, sizeof(bmc->lan), before, sizeof(*before));
    g_clear_error(&error);
    bmc->lan.sessions[7].handle = 7;

    /* A channel whose data points elsewhere, a foreign sys_data_t. */
    g_assert_false(session_guard_check_layout(&bmc->lan, NULL, &error));
    g_clear_error(&error);
    bmc->lan.channel.chan_info = NULL;
    g_assert_false(session_guard_check_layout(&bmc->lan, &bmc->sys, &error));
    g_clear_error(&error);
    bmc->lan.channel.chan_info = &bmc->lan;
    g_assert_false(session_guard_check_layout(NULL, &bmc->sys, &error));
}

/* The table changes under a running guard: it stops, writes nothing. */
static void
test_stops_when_table_breaks(Fixture *f, gconstpointer data)
{
    guint32 sid = 0;

    g_assert_cmpuint(open_session(f->bmc, &sid), ==, 0);
    scans(f->pl, 1);
    f->bmc->lan.channel.active_sessions++;
    g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING,
                          "session guard stopped*");
    scans(f->pl, 5);
    g_test_assert_expected_messages();
    g_assert_false(session_guard_active(f->guard));
    g_assert_cmpuint(session_guard_evicted(f->guard), ==, 0);
    g_assert_true(f->bmc->lan.sessions[(sid >> 1) & SESSION_MASK].active);
    f->bmc->lan.channel.active_sessions--;
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    /* lanserv reads its LAN parameters from persisted state unless this
     * is off; off, it takes its defaults. */
    persist_enable = 0;
    g_test_add_func("/session-guard/layout-accepted", test_layout_accepted);
    g_test_add("/session-guard/evicts-stuck-sessions", Fixture, NULL,
               fixture_setup, test_evicts_stuck_sessions, fixture_teardown);
    g_test_add("/session-guard/spares-other-sessions", Fixture, NULL,
               fixture_setup, test_spares_other_sessions, fixture_teardown);
    g_test_add("/session-guard/frees-idle-when-nearly-full", Fixture, NULL,
               fixture_setup, test_frees_idle_sessions_when_nearly_full,
               fixture_teardown);
    g_test_add("/session-guard/spares-busy-when-full", Fixture, NULL,
               fixture_setup, test_spares_busy_sessions_when_full,
               fixture_teardown);
    g_test_add("/session-guard/new-session-in-old-slot", Fixture, NULL,
               fixture_setup, test_new_session_in_old_slot_restarts_clock,
               fixture_teardown);
    g_test_add_func("/session-guard/refuses-unknown-layout",
                    test_refuses_unknown_layout);
    g_test_add("/session-guard/stops-when-table-breaks", Fixture, NULL,
               fixture_setup, test_stops_when_table_breaks, fixture_teardown);
    return g_test_run();
}
