/*
 * console-log.h - the guest's serial output in a size-capped, rotated file.
 *
 * PATH holds the newest output; when it would grow past the cap it becomes
 * PATH.1, PATH.1 becomes PATH.2, ... up to PATH.KEEP, and the oldest goes.
 * A file is cut after its last complete line when one fits, so lines are
 * rarely split across files.  Writes go straight to the file with write(2)
 * (no user-space buffer), so nothing is lost when the writer is killed.
 * Opening appends to an existing PATH.  No socket I/O here.
 */
#pragma once

#include <glib.h>

#define CONSOLE_LOG_ERROR (console_log_error_quark())
GQuark console_log_error_quark(void);

typedef enum {
    CONSOLE_LOG_ERROR_ARGS, /* a bad size or count */
    CONSOLE_LOG_ERROR_IO,   /* open, write, rename or sync failed */
} ConsoleLogError;

/* The smallest cap: a cap below a few lines would only churn files. */
#define CONSOLE_LOG_MIN_SIZE 4096
#define CONSOLE_LOG_MAX_KEEP 99

typedef struct ConsoleLog ConsoleLog;

/* @max_bytes per file (>= CONSOLE_LOG_MIN_SIZE); @keep rotated files
 * (0..CONSOLE_LOG_MAX_KEEP; 0 truncates PATH when it is full).  The file
 * is created with mode 0600: a console can show secrets. */
ConsoleLog *console_log_open(const char *path, goffset max_bytes, guint keep,
                             GError **error);
void console_log_close(ConsoleLog *log);

/* Append @len bytes, rotating as needed.  On failure the bytes not written
 * are lost (the caller counts them) and the log stays usable: the next
 * write tries again. */
gboolean console_log_write(ConsoleLog *log, const guint8 *data, gsize len,
                           GError **error);
/* fdatasync(2) the current file. */
gboolean console_log_sync(ConsoleLog *log, GError **error);

/* Bytes in the current file. */
goffset console_log_get_size(ConsoleLog *log);
/* Files rotated since open. */
guint64 console_log_get_rotations(ConsoleLog *log);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(ConsoleLog, console_log_close)
