/*
 * test-qmp-proto.c - QMP framing and classification (no I/O involved, so
 * these tests need no temporary directory).
 */
#include "config.h"

#include <string.h>

#include "qmp-proto.h"

/* Pop one line and compare it, length included. */
static void
assert_pop(QmpLineBuffer *lb, const char *expected, gsize expected_len)
{
    gsize len = 12345;
    g_autofree char *line = qmp_line_buffer_pop(lb, &len);

    g_assert_nonnull(line);
    g_assert_cmpuint(len, ==, expected_len);
    g_assert_cmpmem(line, len, expected, expected_len);
    g_assert_cmpint(line[len], ==, '\0');
}

static void
assert_no_line(QmpLineBuffer *lb)
{
    g_autofree char *line = qmp_line_buffer_pop(lb, NULL);

    g_assert_null(line);
}

static void
append_ok(QmpLineBuffer *lb, const char *data)
{
    g_autoptr(GError) error = NULL;

    g_assert_true(qmp_line_buffer_append(lb, data, strlen(data), &error));
    g_assert_no_error(error);
}

/* Appending @len bytes of @data must fail: a line would be over the cap. */
static void
append_oversized(QmpLineBuffer *lb, const char *data, gsize len)
{
    g_autoptr(GError) error = NULL;

    g_assert_false(qmp_line_buffer_append(lb, data, len, &error));
    g_assert_error(error, QMP_PROTO_ERROR, QMP_PROTO_ERROR_OVERSIZED);
}

static void
test_lines_split(void)
{
    g_autoptr(QmpLineBuffer) lb = qmp_line_buffer_new(1024);

    append_ok(lb, "{\"return\":");
    assert_no_line(lb);
    append_ok(lb, " {}, \"id\"");
    assert_no_line(lb);
    append_ok(lb, ": 1}");
    assert_no_line(lb);
    append_ok(lb, "\n");
    assert_pop(lb, "{\"return\": {}, \"id\": 1}", 23);
    assert_no_line(lb);
    g_assert_cmpuint(qmp_line_buffer_get_pending(lb), ==, 0);
}

static void
test_lines_crlf(void)
{
    g_autoptr(QmpLineBuffer) lb = qmp_line_buffer_new(1024);

    /* Only the \r right before the \n goes; a \r split from its \n by a
     * read boundary still does. */
    append_ok(lb, "a\r\nb\rc\r\n\r\nd\r");
    assert_pop(lb, "a", 1);
    assert_pop(lb, "b\rc", 3);
    assert_pop(lb, "", 0);
    assert_no_line(lb);
    append_ok(lb, "\n");
    assert_pop(lb, "d", 1);
    assert_no_line(lb);
}

static void
test_lines_multiple(void)
{
    g_autoptr(QmpLineBuffer) lb = qmp_line_buffer_new(1024);

    append_ok(lb, "one\ntwo\nthree\nfo");
    assert_pop(lb, "one", 3);
    assert_pop(lb, "two", 3);
    /* Appending between pops must not lose or reorder anything. */
    append_ok(lb, "ur\nfive\n");
    assert_pop(lb, "three", 5);
    assert_pop(lb, "four", 4);
    assert_pop(lb, "five", 4);
    assert_no_line(lb);
    g_assert_cmpuint(qmp_line_buffer_get_pending(lb), ==, 0);
}

static void
test_lines_nul(void)
{
    g_autoptr(QmpLineBuffer) lb = qmp_line_buffer_new(1024);
    g_autoptr(GError) error = NULL;

    g_assert_true(qmp_line_buffer_append(lb, "a\0b\n", 4, &error));
    assert_pop(lb, "a\0b", 3);
}

static void
test_lines_cap(void)
{
    g_autoptr(QmpLineBuffer) lb = qmp_line_buffer_new(8);

    /* Exactly the cap is fine, complete or partial. */
    append_ok(lb, "12345678\n");
    assert_pop(lb, "12345678", 8);
    append_ok(lb, "1234");
    append_ok(lb, "5678");
    g_assert_cmpuint(qmp_line_buffer_get_pending(lb), ==, 8);

    /* One more byte of the same line is not, and nothing is buffered. */
    append_oversized(lb, "9\n", 2);
    g_assert_cmpuint(qmp_line_buffer_get_pending(lb), ==, 8);

    /* An oversized line arriving whole, after a good one in the same read,
     * is refused too. */
    qmp_line_buffer_reset(lb);
    append_oversized(lb, "ok\n123456789\n", 13);
    assert_no_line(lb);

    /* The cap is per line: many short lines in one read are fine. */
    append_ok(lb, "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk\n");
    for (char c = 'a'; c <= 'k'; c++) {
        assert_pop(lb, &c, 1);
    }
    assert_no_line(lb);
}

static void
test_lines_big_stream(void)
{
    g_autoptr(QmpLineBuffer) lb = qmp_line_buffer_new(1024 * 1024);
    g_autofree char *chunk = g_malloc(64 * 1024);
    g_autoptr(GError) error = NULL;
    gsize total = 0;

    /* A 2 MiB line fed in 64 KiB reads, as the client sees it. */
    memset(chunk, 'x', 64 * 1024);
    while (qmp_line_buffer_append(lb, chunk, 64 * 1024, &error)) {
        total += 64 * 1024;
        g_assert_cmpuint(total, <=, 1024 * 1024);
    }
    g_assert_error(error, QMP_PROTO_ERROR, QMP_PROTO_ERROR_OVERSIZED);
    g_assert_cmpuint(total, ==, 1024 * 1024);
    assert_no_line(lb);
}

static QmpMessage *
parse_ok(const char *line)
{
    g_autoptr(GError) error = NULL;
    QmpMessage *msg = qmp_message_parse(line, strlen(line), &error);

    g_assert_no_error(error);
    g_assert_nonnull(msg);
    return msg;
}

static void
assert_invalid(const char *line, gsize len)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(QmpMessage) msg = qmp_message_parse(line, len, &error);

    g_assert_null(msg);
    g_assert_error(error, QMP_PROTO_ERROR, QMP_PROTO_ERROR_INVALID);
    g_test_message("'%.40s' -> %s", line, error->message);
}

static void
test_parse_greeting(void)
{
    g_autoptr(QmpMessage) msg = parse_ok(
        "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, "
        "\"major\": 7}, \"package\": \"\"}, \"capabilities\": [\"oob\"]}}");

    g_assert_cmpint(msg->kind, ==, QMP_MESSAGE_GREETING);
    g_assert_nonnull(msg->greeting);
    g_assert_true(json_object_has_member(msg->greeting, "capabilities"));
    g_assert_cmpstr(qmp_message_kind_name(msg->kind), ==, "greeting");
}

static void
test_parse_event(void)
{
    g_autoptr(QmpMessage) with_data = parse_ok(
        "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, "
        "\"event\": \"SHUTDOWN\", "
        "\"data\": {\"guest\": true, \"reason\": \"guest-shutdown\"}}");
    g_autoptr(QmpMessage) without = parse_ok("{\"event\": \"STOP\"}");
    g_autoptr(QmpMessage) null_data =
        parse_ok("{\"event\": \"RESUME\", \"data\": null}");

    g_assert_cmpint(with_data->kind, ==, QMP_MESSAGE_EVENT);
    g_assert_cmpstr(with_data->event, ==, "SHUTDOWN");
    g_assert_nonnull(with_data->data);
    g_assert_true(json_object_get_boolean_member(with_data->data, "guest"));
    g_assert_cmpstr(json_object_get_string_member(with_data->data, "reason"),
                    ==, "guest-shutdown");

    g_assert_cmpint(without->kind, ==, QMP_MESSAGE_EVENT);
    g_assert_cmpstr(without->event, ==, "STOP");
    g_assert_null(without->data);

    g_assert_cmpint(null_data->kind, ==, QMP_MESSAGE_EVENT);
    g_assert_null(null_data->data);

    assert_invalid("{\"event\": 7}", 12);
    assert_invalid("{\"event\": \"X\", \"data\": [1]}", 27);
}

static void
test_parse_return(void)
{
    g_autoptr(QmpMessage) obj =
        parse_ok("{\"return\": {\"status\": \"running\", \"running\": true}, "
                 "\"id\": 42}");
    g_autoptr(QmpMessage) scalar = parse_ok("{\"id\": 0, \"return\": 3}");
    g_autoptr(QmpMessage) no_id = parse_ok("{\"return\": {}}");
    g_autoptr(QmpMessage) str_id = parse_ok("{\"return\": {}, \"id\": \"7\"}");
    g_autoptr(QmpMessage) neg_id = parse_ok("{\"return\": {}, \"id\": -1}");

    g_assert_cmpint(obj->kind, ==, QMP_MESSAGE_RETURN);
    g_assert_true(obj->has_id);
    g_assert_cmpuint(obj->id, ==, 42);
    g_assert_true(JSON_NODE_HOLDS_OBJECT(obj->ret));
    g_assert_cmpstr(
        json_object_get_string_member(json_node_get_object(obj->ret), "status"),
        ==, "running");

    g_assert_cmpint(scalar->kind, ==, QMP_MESSAGE_RETURN);
    g_assert_true(scalar->has_id);
    g_assert_cmpuint(scalar->id, ==, 0);
    g_assert_cmpint(json_node_get_int(scalar->ret), ==, 3);

    /* Ids we cannot have sent are reported as absent. */
    g_assert_false(no_id->has_id);
    g_assert_false(str_id->has_id);
    g_assert_false(neg_id->has_id);
}

static void
test_parse_error(void)
{
    g_autoptr(QmpMessage) msg =
        parse_ok("{\"error\": {\"class\": \"GenericError\", "
                 "\"desc\": \"Device 'x' not found\"}, \"id\": 9}");
    g_autoptr(QmpMessage) no_id = parse_ok(
        "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse "
        "error\"}}");

    g_assert_cmpint(msg->kind, ==, QMP_MESSAGE_ERROR);
    g_assert_true(msg->has_id);
    g_assert_cmpuint(msg->id, ==, 9);
    g_assert_cmpstr(msg->error_class, ==, "GenericError");
    g_assert_cmpstr(msg->error_desc, ==, "Device 'x' not found");
    g_assert_false(no_id->has_id);

    assert_invalid("{\"error\": \"boom\", \"id\": 1}", 26);
    assert_invalid("{\"error\": {\"class\": \"X\"}, \"id\": 1}", 34);
    assert_invalid("{\"error\": {\"desc\": 1, \"class\": \"X\"}}", 36);
}

static void
test_parse_invalid(void)
{
    static const char *const lines[] = {
        "",
        "   ",
        "not json",
        "{\"return\": {}",
        "{\"return\": {}}}",
        "{\"return\": {}} trailing",
        "{\"return\": {}}{\"event\": \"STOP\"}",
        "[1, 2]",
        "42",
        "\"string\"",
        "null",
        "{}",
        "{\"foo\": 1}",
        "{\"QMP\": 1}",
        "{\"return\": \"\xff\xfe\"}",
        /* Found by fuzzing: json-glib 1.6 leaks on a broken surrogate pair
         * and passes a lone one through as invalid UTF-8. */
        "{\"\\ud800\\u",
        "{\"\\ud8, \"",
        "{\"return\": \"\\udc00\"}",
        "{\"return\": \"\\ud800x\"}",
        /* ... and on a short escape, which it reads as the digits it got,
         * eating the next byte. */
        "{\"\\ud80\\\\u",
        "{\"return\": \"\\u12\"}",
        /* ... and a number out of double's range, which json-glib reads
         * as infinity and would write back as "inf.0". */
        "{\"event\": \"RESET\", \"data\": {\"guest\": 1e400}}",
        "{\"return\": [-1e999]}",
        /* Event and error class names are identifiers, not free text. */
        "{\"event\": \"\"}",
        "{\"event\": \"A\\nB\"}",
        "{\"error\": {\"class\": \"a b\", \"desc\": \"x\"}}",
    };

    for (gsize i = 0; i < G_N_ELEMENTS(lines); i++) {
        assert_invalid(lines[i], strlen(lines[i]));
    }
    /* A whole surrogate pair is fine. */
    {
        const char *ok = "{\"return\": \"\\ud83d\\ude00\"}";
        g_autoptr(GError) error = NULL;
        g_autoptr(QmpMessage) msg = qmp_message_parse(ok, strlen(ok), &error);

        g_assert_no_error(error);
        g_assert_nonnull(msg);
    }
    /* Text from a peer is made safe for one log line. */
    {
        g_autofree char *t = qmp_sanitize_text("a\nb\"c\xff d\xc3\xa9");

        g_assert_cmpstr(t, ==, "a\\nb\\\"c\xef\xbf\xbd d\xc3\xa9");
    }
    /* An embedded NUL must not truncate the line into a valid one. */
    assert_invalid("{\"return\": {}}\0garbage", 22);
}

/* @depth nested JSON arrays: "[[...]]". */
static void
append_nested(GString *s, gsize depth)
{
    for (gsize i = 0; i < depth; i++) {
        g_string_append_c(s, '[');
    }
    for (gsize i = 0; i < depth; i++) {
        g_string_append_c(s, ']');
    }
}

static void
test_parse_nesting(void)
{
    const gsize ok_depth = 1000;
    const gsize bad_depth = 1000 * 1000;
    g_autoptr(GString) ok = g_string_new("{\"return\": ");
    g_autoptr(GString) bad = g_string_new("{\"return\": ");
    g_autoptr(QmpMessage) msg = NULL;

    /* Brackets inside strings do not count. */
    g_string_append(ok, "\"[[[[{{{{\\\"[[[\", \"x\": ");
    append_nested(ok, ok_depth);
    g_string_append(ok, ", \"id\": 1}");
    msg = parse_ok(ok->str);
    g_assert_cmpint(msg->kind, ==, QMP_MESSAGE_RETURN);

    /* Deep enough to overflow json-glib's recursive parser: refused before
     * it gets there. */
    append_nested(bad, bad_depth);
    g_string_append(bad, "}");
    assert_invalid(bad->str, bad->len);
}

static void
test_serialize(void)
{
    g_autoptr(JsonObject) args = json_object_new();
    g_autofree char *with_args = NULL;
    g_autofree char *without = NULL;
    g_autoptr(JsonNode) root = NULL;
    g_autoptr(GError) error = NULL;
    JsonObject *obj;
    gsize len;

    json_object_set_string_member(args, "command-line", "info\nstatus\r\n");
    json_object_set_int_member(args, "n", 3);

    with_args = qmp_command_serialize("human-monitor-command", args, 17, &len);
    g_assert_cmpuint(len, ==, strlen(with_args));
    g_assert_cmpint(with_args[len - 1], ==, '\n');
    /* The only newline is the terminator, whatever the arguments hold. */
    g_assert_true(strchr(with_args, '\n') == with_args + len - 1);
    g_assert_null(strchr(with_args, '\r'));
    /* @args was not consumed. */
    g_assert_cmpint(json_object_get_int_member(args, "n"), ==, 3);

    root = json_from_string(with_args, &error);
    g_assert_no_error(error);
    obj = json_node_get_object(root);
    g_assert_cmpstr(json_object_get_string_member(obj, "execute"), ==,
                    "human-monitor-command");
    g_assert_cmpint(json_object_get_int_member(obj, "id"), ==, 17);
    g_assert_cmpstr(
        json_object_get_string_member(
            json_object_get_object_member(obj, "arguments"), "command-line"),
        ==, "info\nstatus\r\n");

    without = qmp_command_serialize("qmp_capabilities", NULL, 1, NULL);
    g_assert_cmpstr(without, ==,
                    "{\"execute\":\"qmp_capabilities\",\"id\":1}\n");
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/qmp-proto/lines/split-across-reads", test_lines_split);
    g_test_add_func("/qmp-proto/lines/crlf", test_lines_crlf);
    g_test_add_func("/qmp-proto/lines/multiple-per-read", test_lines_multiple);
    g_test_add_func("/qmp-proto/lines/embedded-nul", test_lines_nul);
    g_test_add_func("/qmp-proto/lines/cap", test_lines_cap);
    g_test_add_func("/qmp-proto/lines/2mib-line", test_lines_big_stream);
    g_test_add_func("/qmp-proto/parse/greeting", test_parse_greeting);
    g_test_add_func("/qmp-proto/parse/event", test_parse_event);
    g_test_add_func("/qmp-proto/parse/return", test_parse_return);
    g_test_add_func("/qmp-proto/parse/error", test_parse_error);
    g_test_add_func("/qmp-proto/parse/invalid", test_parse_invalid);
    g_test_add_func("/qmp-proto/parse/nesting", test_parse_nesting);
    g_test_add_func("/qmp-proto/serialize", test_serialize);
    return g_test_run();
}
