/*
 * test-console-log.c - the capped, rotated console log.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "console-log.h"
#include "test-util.h"

typedef struct {
    char *dir;
    char *path;
} Fixture;

static void
fixture_set_up(Fixture *f, gconstpointer data)
{
    f->dir = test_tmpdir_new("test-console-log-XXXXXX");
    f->path = g_build_filename(f->dir, "console.log", NULL);
}

static void
fixture_tear_down(Fixture *f, gconstpointer data)
{
    g_autoptr(GDir) d = g_dir_open(f->dir, 0, NULL);
    const char *name;

    while (d && (name = g_dir_read_name(d))) {
        g_autofree char *p = g_build_filename(f->dir, name, NULL);
        g_assert_cmpint(g_unlink(p), ==, 0);
    }
    g_free(f->path);
    test_tmpdir_free(f->dir);
}

static char *
file_text(const char *path)
{
    char *text = NULL;

    if (!g_file_get_contents(path, &text, NULL, NULL)) {
        return NULL;
    }
    return text;
}

static char *
rotated(Fixture *f, guint n)
{
    g_autofree char *p = g_strdup_printf("%s.%u", f->path, n);
    return file_text(p);
}

static void
write_str(ConsoleLog *log, const char *s)
{
    g_autoptr(GError) error = NULL;

    g_assert_true(console_log_write(log, (const guint8 *)s, strlen(s), &error));
    g_assert_no_error(error);
}

static void
test_append_and_reopen(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *text = NULL;
    ConsoleLog *log;
    struct stat st;

    log = console_log_open(f->path, 4096, 2, &error);
    g_assert_no_error(error);
    write_str(log, "SeaBIOS\r\n");
    g_assert_cmpint(console_log_get_size(log), ==, 9);
    g_assert_true(console_log_sync(log, &error));
    console_log_close(log);
    /* Private: a console can show secrets. */
    g_assert_cmpint(g_stat(f->path, &st), ==, 0);
    g_assert_cmpint(st.st_mode & 0777, ==, 0600);

    /* A restarted bridge appends. */
    log = console_log_open(f->path, 4096, 2, &error);
    g_assert_no_error(error);
    g_assert_cmpint(console_log_get_size(log), ==, 9);
    write_str(log, "login: ");
    console_log_close(log);
    text = file_text(f->path);
    g_assert_cmpstr(text, ==, "SeaBIOS\r\nlogin: ");
}

/* 4096-byte lines of one letter each, so files show what went where. */
static char *
line_of(char c, gsize len)
{
    char *s = g_malloc(len + 1);

    memset(s, c, len - 1);
    s[len - 1] = '\n';
    s[len] = '\0';
    return s;
}

static void
test_rotation_keeps_n(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(ConsoleLog) log = console_log_open(f->path, 4096, 2, &error);

    g_assert_no_error(error);
    for (char c = 'a'; c <= 'e'; c++) {
        g_autofree char *line = line_of(c, 4096);
        write_str(log, line);
    }
    /* Two rotated files kept: e is current, d in .1, c in .2; a and b
     * are gone. */
    {
        g_autofree char *cur = file_text(f->path);
        g_autofree char *one = rotated(f, 1);
        g_autofree char *two = rotated(f, 2);
        g_autofree char *three = rotated(f, 3);

        g_assert_cmpuint(strlen(cur), ==, 4096);
        g_assert_cmpint(cur[0], ==, 'e');
        g_assert_cmpint(one[0], ==, 'd');
        g_assert_cmpint(two[0], ==, 'c');
        g_assert_null(three);
    }
    g_assert_cmpuint(console_log_get_rotations(log), ==, 4);
}

/* A file ends after its last complete line when the next one does not fit;
 * no file ever exceeds the cap. */
static void
test_cut_at_newline(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(ConsoleLog) log = console_log_open(f->path, 4096, 3, &error);
    g_autofree char *first = line_of('x', 4000);
    g_autofree char *second = line_of('y', 200);
    g_autofree char *chunk = g_strconcat(second, "partial", NULL);
    g_autofree char *one = NULL;
    g_autofree char *cur = NULL;

    write_str(log, first);
    /* 200 + 7 bytes do not fit in the 96 left: the whole chunk, which has
     * a line end, goes to a new file. */
    write_str(log, chunk);
    one = rotated(f, 1);
    cur = file_text(f->path);
    g_assert_cmpstr(one, ==, first);
    g_assert_cmpstr(cur, ==, chunk);
}

/* One write holding several lines is split after the last line that fits. */
static void
test_split_inside_a_write(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(ConsoleLog) log = console_log_open(f->path, 4096, 3, &error);
    g_autofree char *a = line_of('a', 3000);
    g_autofree char *b = line_of('b', 1000);
    g_autofree char *c = line_of('c', 1000);
    g_autofree char *all = g_strconcat(a, b, c, NULL);
    g_autofree char *one = NULL;
    g_autofree char *cur = NULL;
    g_autofree char *ab = g_strconcat(a, b, NULL);

    write_str(log, all);
    one = rotated(f, 1);
    cur = file_text(f->path);
    g_assert_cmpstr(one, ==, ab);
    g_assert_cmpstr(cur, ==, c);
}

/* Output without newlines (a flood of binary) fills each file exactly. */
static void
test_no_newlines_fill_exactly(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(ConsoleLog) log = console_log_open(f->path, 4096, 1, &error);
    guint8 blob[10000];
    struct stat st;

    memset(blob, 'z', sizeof(blob));
    g_assert_true(console_log_write(log, blob, sizeof(blob), &error));
    g_assert_no_error(error);
    /* 4096 + 4096 rotated (one kept), 1808 current. */
    g_assert_cmpint(console_log_get_size(log), ==, 10000 - 2 * 4096);
    g_assert_cmpint(g_stat(f->path, &st), ==, 0);
    g_assert_cmpint(st.st_size, ==, 10000 - 2 * 4096);
    {
        g_autofree char *p = g_strdup_printf("%s.1", f->path);
        g_assert_cmpint(g_stat(p, &st), ==, 0);
        g_assert_cmpint(st.st_size, ==, 4096);
    }
}

/* An existing file at or over the cap is rotated at the first write. */
static void
test_existing_full_file(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *big = line_of('o', 5000);
    g_autoptr(ConsoleLog) log = NULL;
    g_autofree char *one = NULL;
    g_autofree char *cur = NULL;

    g_assert_true(g_file_set_contents(f->path, big, -1, NULL));
    log = console_log_open(f->path, 4096, 1, &error);
    g_assert_no_error(error);
    write_str(log, "new boot\n");
    one = rotated(f, 1);
    cur = file_text(f->path);
    g_assert_cmpstr(one, ==, big);
    g_assert_cmpstr(cur, ==, "new boot\n");
}

/* keep = 0: no rotated files, the log starts over. */
static void
test_keep_zero_truncates(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(ConsoleLog) log = console_log_open(f->path, 4096, 0, &error);
    g_autofree char *a = line_of('a', 4093);
    g_autofree char *cur = NULL;
    g_autofree char *one = NULL;

    write_str(log, a);
    /* 6 bytes, 3 left. */
    write_str(log, "after\n");
    cur = file_text(f->path);
    one = rotated(f, 1);
    g_assert_cmpstr(cur, ==, "after\n");
    g_assert_null(one);
}

static void
test_bad_args(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) e1 = NULL;
    g_autoptr(GError) e2 = NULL;
    g_autoptr(GError) e3 = NULL;
    g_autofree char *nodir = g_build_filename(f->dir, "no", "such", NULL);

    g_assert_null(console_log_open(f->path, 100, 1, &e1));
    g_assert_error(e1, CONSOLE_LOG_ERROR, CONSOLE_LOG_ERROR_ARGS);
    g_assert_null(console_log_open(f->path, 4096, 100, &e2));
    g_assert_error(e2, CONSOLE_LOG_ERROR, CONSOLE_LOG_ERROR_ARGS);
    g_assert_null(console_log_open(nodir, 4096, 1, &e3));
    g_assert_error(e3, CONSOLE_LOG_ERROR, CONSOLE_LOG_ERROR_IO);
    g_assert_nonnull(strstr(e3->message, nodir));
}

/* A failed rotation is reported; the log keeps going once it can. */
static void
test_rotation_failure_recovers(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(ConsoleLog) log = console_log_open(f->path, 4096, 1, &error);
    g_autofree char *a = line_of('a', 4000);
    g_autofree char *b = line_of('b', 200);
    g_autofree char *one = g_strdup_printf("%s.1", f->path);
    g_autofree char *cur = NULL;

    write_str(log, a);
    /* PATH.1 is a non-empty directory: rename(PATH, PATH.1) fails, even
     * for root (which permission bits would not stop). */
    g_assert_cmpint(g_mkdir(one, 0700), ==, 0);
    {
        g_autofree char *inner = g_build_filename(one, "x", NULL);
        g_assert_true(g_file_set_contents(inner, "x", -1, NULL));
        g_assert_false(
            console_log_write(log, (const guint8 *)b, strlen(b), &error));
        g_assert_error(error, CONSOLE_LOG_ERROR, CONSOLE_LOG_ERROR_IO);
        g_clear_error(&error);
        g_assert_cmpint(g_unlink(inner), ==, 0);
        g_assert_cmpint(g_rmdir(one), ==, 0);
    }
    write_str(log, b);
    cur = file_text(f->path);
    g_assert_cmpstr(cur, ==, b);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
#define ADD(name, func)                                                        \
    g_test_add("/console-log/" name, Fixture, NULL, fixture_set_up, func,      \
               fixture_tear_down)
    ADD("append-and-reopen", test_append_and_reopen);
    ADD("rotation-keeps-n", test_rotation_keeps_n);
    ADD("cut-at-newline", test_cut_at_newline);
    ADD("split-inside-a-write", test_split_inside_a_write);
    ADD("no-newlines-fill-exactly", test_no_newlines_fill_exactly);
    ADD("existing-full-file", test_existing_full_file);
    ADD("keep-zero-truncates", test_keep_zero_truncates);
    ADD("bad-args", test_bad_args);
    ADD("rotation-failure-recovers", test_rotation_failure_recovers);
#undef ADD
    return g_test_run();
}
