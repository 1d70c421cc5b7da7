/*
 * test-byte-queue.c - the bounded queues of the console path.
 */
#include "config.h"

#include <string.h>

#include "byte-queue.h"

/* Everything queued, oldest first, as a string (the test data is text). */
static char *
drain(ByteQueue *q)
{
    GString *s = g_string_new(NULL);

    for (;;) {
        gsize len;
        const guint8 *p = byte_queue_peek(q, &len);

        if (len == 0) {
            break;
        }
        g_string_append_len(s, (const char *)p, (gssize)len);
        byte_queue_consume(q, len);
    }
    return g_string_free(s, FALSE);
}

static gsize
push_str(ByteQueue *q, const char *s)
{
    return byte_queue_push(q, (const guint8 *)s, strlen(s));
}

static void
test_fifo_and_wrap(void)
{
    g_autoptr(ByteQueue) q = byte_queue_new(8, BYTE_QUEUE_DROP_OLDEST);
    g_autofree char *out = NULL;
    gsize len;

    g_assert_null(byte_queue_peek(q, &len));
    g_assert_cmpuint(len, ==, 0);
    g_assert_cmpuint(push_str(q, "abcdef"), ==, 0);
    byte_queue_consume(q, 4);
    /* "ef" at 4..5, then "ghijkl" wraps around the end of the ring. */
    g_assert_cmpuint(push_str(q, "ghijkl"), ==, 0);
    g_assert_cmpuint(byte_queue_length(q), ==, 8);
    /* The first peek stops at the end of the storage. */
    g_assert_nonnull(byte_queue_peek(q, &len));
    g_assert_cmpuint(len, ==, 4);
    out = drain(q);
    g_assert_cmpstr(out, ==, "efghijkl");
    g_assert_cmpuint(byte_queue_dropped(q), ==, 0);
}

static void
test_drop_oldest(void)
{
    g_autoptr(ByteQueue) q = byte_queue_new(8, BYTE_QUEUE_DROP_OLDEST);
    g_autofree char *a = NULL;
    g_autofree char *b = NULL;

    g_assert_cmpuint(push_str(q, "012345"), ==, 0);
    /* 4 more: the 2 oldest go. */
    g_assert_cmpuint(push_str(q, "6789"), ==, 2);
    a = drain(q);
    g_assert_cmpstr(a, ==, "23456789");
    /* Longer than the queue: only its tail survives. */
    g_assert_cmpuint(push_str(q, "xy"), ==, 0);
    g_assert_cmpuint(push_str(q, "ABCDEFGHIJKL"), ==, 6);
    b = drain(q);
    g_assert_cmpstr(b, ==, "EFGHIJKL");
    g_assert_cmpuint(byte_queue_dropped(q), ==, 8);
}

static void
test_drop_newest(void)
{
    g_autoptr(ByteQueue) q = byte_queue_new(8, BYTE_QUEUE_DROP_NEWEST);
    g_autofree char *out = NULL;

    g_assert_cmpuint(push_str(q, "hello"), ==, 0);
    g_assert_cmpuint(push_str(q, " world"), ==, 3);
    g_assert_cmpuint(push_str(q, "!"), ==, 1);
    out = drain(q);
    g_assert_cmpstr(out, ==, "hello wo");
    g_assert_cmpuint(byte_queue_dropped(q), ==, 4);
}

/* However much is pushed, the queue never holds more than its capacity. */
static void
test_bounded_under_flood(void)
{
    g_autoptr(ByteQueue) q = byte_queue_new(4096, BYTE_QUEUE_DROP_OLDEST);
    guint8 chunk[1000];
    guint64 pushed = 0;
    gsize left;

    for (gsize i = 0; i < sizeof(chunk); i++) {
        chunk[i] = (guint8)i;
    }
    for (int i = 0; i < 10000; i++) {
        byte_queue_push(q, chunk, 1 + (gsize)(i * 7) % sizeof(chunk));
        pushed += 1 + (guint64)(i * 7) % sizeof(chunk);
        g_assert_cmpuint(byte_queue_length(q), <=, 4096);
        if (i % 3 == 0) {
            gsize len;
            byte_queue_peek(q, &len);
            byte_queue_consume(q, len / 2);
        }
    }
    g_assert_cmpuint(byte_queue_capacity(q), ==, 4096);
    g_assert_cmpuint(byte_queue_dropped(q), >, 0);
    g_assert_cmpuint(byte_queue_dropped(q), <, pushed);
    left = byte_queue_length(q);
    g_assert_cmpuint(byte_queue_clear(q), ==, left);
}

static void
test_clear(void)
{
    g_autoptr(ByteQueue) q = byte_queue_new(16, BYTE_QUEUE_DROP_NEWEST);

    push_str(q, "typed");
    g_assert_cmpuint(byte_queue_clear(q), ==, 5);
    g_assert_cmpuint(byte_queue_length(q), ==, 0);
    /* Clearing is not dropping. */
    g_assert_cmpuint(byte_queue_dropped(q), ==, 0);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/byte-queue/fifo-and-wrap", test_fifo_and_wrap);
    g_test_add_func("/byte-queue/drop-oldest", test_drop_oldest);
    g_test_add_func("/byte-queue/drop-newest", test_drop_newest);
    g_test_add_func("/byte-queue/bounded-under-flood",
                    test_bounded_under_flood);
    g_test_add_func("/byte-queue/clear", test_clear);
    return g_test_run();
}
