/*
 * fuzz-common.h - what every libFuzzer target here shares: quiet logging
 * that still treats a g_critical() as a crash, and invariant checks that
 * abort (so libFuzzer saves the input) unless the finding is known.
 *
 * A known finding is named in QEMU_BMC_FUZZ_ALLOW (comma separated): its
 * check then prints one line the first time and lets fuzzing go on, so one
 * reported bug does not stop a run from looking for the next.  Unset, every
 * check is fatal: that is what CI runs.
 */
#pragma once

#include <glib.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* g_critical() is what g_return_if_fail() emits: plugin code reached a
 * state its own preconditions forbid, which hostile input must never do.
 * Everything below critical is noise at a million executions. */
static inline GLogWriterOutput
fuzz_log_writer(GLogLevelFlags level, const GLogField *fields, gsize n_fields,
                gpointer data)
{
    if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL)) {
        g_log_writer_standard_streams(level, fields, n_fields, data);
        fprintf(stderr, "FUZZ: GLib critical/error above: aborting\n");
        abort();
    }
    if (g_getenv("QEMU_BMC_FUZZ_VERBOSE")) {
        return g_log_writer_standard_streams(level, fields, n_fields, data);
    }
    return G_LOG_WRITER_HANDLED;
}

static inline void
fuzz_common_init(void)
{
    /* GLib 2.74 still has its slice allocator: with it, json-glib's nodes
     * and GLib's lists live in slabs ASan cannot see into.  Read lazily on
     * the first g_slice allocation, so setting it here is in time; the
     * build-and-run script exports it as well. */
    setenv("G_SLICE", "always-malloc", 0);
    g_log_set_writer_func(fuzz_log_writer, NULL, NULL);
}

static inline gboolean
fuzz_allowed(const char *finding)
{
    static char **allowed;
    static gboolean loaded;

    if (!loaded) {
        const char *env = g_getenv("QEMU_BMC_FUZZ_ALLOW");

        allowed = g_strsplit(env ? env : "", ",", -1);
        loaded = TRUE;
    }
    return finding && g_strv_contains((const char *const *)allowed, finding);
}

/* An invariant failed.  @finding names it (NULL: never tolerated). */
static inline void G_GNUC_PRINTF(2, 3)
    fuzz_fail(const char *finding, const char *fmt, ...)
{
    static GHashTable *reported;
    va_list ap;

    if (fuzz_allowed(finding)) {
        if (!reported) {
            reported = g_hash_table_new(g_str_hash, g_str_equal);
        }
        if (!g_hash_table_contains(reported, finding)) {
            g_hash_table_add(reported, (gpointer)finding);
            fprintf(stderr, "FUZZ: known finding %s (allowed): ", finding);
            va_start(ap, fmt);
            vfprintf(stderr, fmt, ap);
            va_end(ap);
            fputc('\n', stderr);
        }
        return;
    }
    fprintf(stderr, "FUZZ: invariant failed%s%s%s: ", finding ? " [" : "",
            finding ? finding : "", finding ? "]" : "");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

#define FUZZ_CHECK(cond, ...)                                                  \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fuzz_fail(NULL, "%s:%d: %s", __FILE__, __LINE__, #cond);           \
        }                                                                      \
    } while (0)

/* A byte-consuming reader over the fuzzer's input. */
typedef struct {
    const guint8 *p;
    gsize left;
} FuzzInput;

static inline gboolean
fuzz_byte(FuzzInput *in, guint8 *out)
{
    if (in->left == 0) {
        return FALSE;
    }
    *out = *in->p++;
    in->left--;
    return TRUE;
}

/* Up to @want bytes (fewer at the end of the input). */
static inline gsize
fuzz_bytes(FuzzInput *in, gsize want, const guint8 **out)
{
    gsize n = MIN(want, in->left);

    *out = in->p;
    in->p += n;
    in->left -= n;
    return n;
}

/* A heap copy of exactly @len bytes (malloc(0) for none), so that ASan
 * sees any read past the end - GLib's g_malloc(0) would return NULL. */
static inline guint8 *
fuzz_exact_copy(const guint8 *data, gsize len)
{
    guint8 *copy = malloc(len);

    if (len) {
        memcpy(copy, data, len);
    }
    return copy;
}
