/*
 * byte-queue.h - a bounded FIFO of bytes that drops instead of growing.
 *
 * Every buffer of the serial console path is one of these: the bridge must
 * never block on a slow peer and never grow its memory with one, so when a
 * queue is full it drops bytes and counts them.  Which bytes go depends on
 * what the queue carries:
 *  - output for a console client drops the OLDEST bytes, so a client that
 *    catches up sees the newest screen (the prompt), not a stale one;
 *  - input for the guest drops the NEWEST bytes, so what the guest gets is
 *    a prefix of what was typed, never a reordering of it.
 * No I/O here.
 */
#pragma once

#include <glib.h>

typedef enum {
    BYTE_QUEUE_DROP_OLDEST,
    BYTE_QUEUE_DROP_NEWEST,
} ByteQueuePolicy;

typedef struct ByteQueue ByteQueue;

/* @capacity > 0 bytes; the storage is allocated once, here. */
ByteQueue *byte_queue_new(gsize capacity, ByteQueuePolicy policy);
void byte_queue_free(ByteQueue *q);

/* Append @len bytes, dropping per the policy when they do not fit.
 * Returns how many bytes were dropped (of @data or of what was queued). */
gsize byte_queue_push(ByteQueue *q, const guint8 *data, gsize len);

/* The oldest queued bytes, contiguous (may be fewer than the queue holds
 * when the ring wraps); *len 0 and NULL when empty. */
const guint8 *byte_queue_peek(ByteQueue *q, gsize *len);
/* Remove @n (<= length) bytes from the front, e.g. after a write. */
void byte_queue_consume(ByteQueue *q, gsize n);
/* Empty the queue; returns how many bytes were discarded. */
gsize byte_queue_clear(ByteQueue *q);

gsize byte_queue_length(ByteQueue *q);
gsize byte_queue_capacity(ByteQueue *q);
/* Total bytes dropped by byte_queue_push() since creation. */
guint64 byte_queue_dropped(ByteQueue *q);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(ByteQueue, byte_queue_free)
