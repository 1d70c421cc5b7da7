/*
 * byte-queue.c - a bounded ring of bytes with a drop policy.
 */
#include "config.h"

#include <string.h>

#include "byte-queue.h"

struct ByteQueue {
    guint8 *data;
    gsize capacity;
    gsize head; /* index of the oldest byte */
    gsize len;  /* bytes queued */
    ByteQueuePolicy policy;
    guint64 dropped;
};

ByteQueue *
byte_queue_new(gsize capacity, ByteQueuePolicy policy)
{
    ByteQueue *q;

    g_return_val_if_fail(capacity > 0, NULL);
    q = g_new0(ByteQueue, 1);
    q->data = g_malloc(capacity);
    q->capacity = capacity;
    q->policy = policy;
    return q;
}

void
byte_queue_free(ByteQueue *q)
{
    if (!q) {
        return;
    }
    g_free(q->data);
    g_free(q);
}

/* Copy @len bytes (which fit) in after the last queued byte. */
static void
append(ByteQueue *q, const guint8 *data, gsize len)
{
    gsize tail = (q->head + q->len) % q->capacity;
    gsize first = MIN(len, q->capacity - tail);

    memcpy(q->data + tail, data, first);
    memcpy(q->data, data + first, len - first);
    q->len += len;
}

gsize
byte_queue_push(ByteQueue *q, const guint8 *data, gsize len)
{
    gsize dropped = 0;

    if (len == 0) {
        return 0;
    }
    if (q->policy == BYTE_QUEUE_DROP_NEWEST) {
        gsize room = q->capacity - q->len;
        if (len > room) {
            dropped = len - room;
            len = room;
        }
    } else {
        /* Only the last @capacity bytes of @data can survive; then make
         * room for them by forgetting the oldest queued bytes. */
        if (len > q->capacity) {
            dropped += len - q->capacity;
            data += len - q->capacity;
            len = q->capacity;
        }
        if (len > q->capacity - q->len) {
            gsize forget = len - (q->capacity - q->len);
            byte_queue_consume(q, forget);
            dropped += forget;
        }
    }
    append(q, data, len);
    q->dropped += dropped;
    return dropped;
}

const guint8 *
byte_queue_peek(ByteQueue *q, gsize *len)
{
    if (q->len == 0) {
        *len = 0;
        return NULL;
    }
    *len = MIN(q->len, q->capacity - q->head);
    return q->data + q->head;
}

void
byte_queue_consume(ByteQueue *q, gsize n)
{
    g_return_if_fail(n <= q->len);
    q->len -= n;
    /* An empty ring restarts at 0, so the next peek is one whole chunk. */
    q->head = q->len == 0 ? 0 : (q->head + n) % q->capacity;
}

gsize
byte_queue_clear(ByteQueue *q)
{
    gsize n = q->len;

    q->len = 0;
    q->head = 0;
    return n;
}

gsize
byte_queue_length(ByteQueue *q)
{
    return q->len;
}

gsize
byte_queue_capacity(ByteQueue *q)
{
    return q->capacity;
}

guint64
byte_queue_dropped(ByteQueue *q)
{
    return q->dropped;
}
