/*
 * sol-bridge-main.c - the sol-bridge program: arguments, sockets, signals.
 *
 *   sol-bridge --serial RUN/serial.sock --console RUN/console.sock
 *              (--port PORT [--address ADDR] | --listen-fd N)
 *              [--log STATE/console.log --log-size 10M --log-files 3]
 *              [--stdout] [--client-queue 256K] [--sol-rate 64K]
 *
 * supervisord runs it as an fcgi-program, which owns the TCP listening
 * socket and hands it over as fd 0 (--listen-fd 0): the socket exists
 * before ipmi_sim starts, so ipmi_sim's first SOL connect never fails (a
 * failed one is retried only after 10 s).  SIGTERM or SIGINT: take what
 * QEMU already wrote, sync the log, exit 0.  A bad argument: one line on
 * stderr, exit 2.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <glib-unix.h>

#include "compat.h"
#include "console-log.h"
#include "sol-bridge.h"

#define DEFAULT_LOG_SIZE  (10 * 1024 * 1024)
#define DEFAULT_LOG_FILES 3

static GLogLevelFlags max_level = G_LOG_LEVEL_MESSAGE;

/* One line per message on stderr, with a timestamp (supervisord's log
 * files have none of their own). */
static GLogWriterOutput
log_writer(GLogLevelFlags level, const GLogField *fields, gsize n_fields,
           gpointer data)
{
    const char *message = NULL;
    const char *tag = "";
    char stamp[32];
    struct timespec ts;
    struct tm tm;

    if ((level & G_LOG_LEVEL_MASK) > max_level) {
        return G_LOG_WRITER_HANDLED;
    }
    for (gsize i = 0; i < n_fields; i++) {
        if (strcmp(fields[i].key, "MESSAGE") == 0) {
            message = fields[i].value;
        }
    }
    if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL)) {
        tag = "error: ";
    } else if (level & G_LOG_LEVEL_WARNING) {
        tag = "warning: ";
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    localtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &tm);
    fprintf(stderr, "%s.%03ld sol-bridge: %s%s\n", stamp, ts.tv_nsec / 1000000,
            tag, message ? message : "");
    fflush(stderr);
    return G_LOG_WRITER_HANDLED;
}

static G_GNUC_PRINTF(1, 2) G_GNUC_NORETURN void die_usage(const char *fmt, ...)
{
    va_list ap;

    fputs("sol-bridge: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(2);
}

/* "4096", "512K", "10M", "1G" (powers of 1024). */
static gboolean
parse_size(const char *text, guint64 *out)
{
    char *end = NULL;
    guint64 n;
    guint64 unit = 1;

    if (!text || !g_ascii_isdigit(text[0])) {
        return FALSE;
    }
    errno = 0;
    n = g_ascii_strtoull(text, &end, 10);
    if (errno != 0) {
        return FALSE;
    }
    switch (g_ascii_toupper(*end)) {
    case '\0':
        break;
    case 'K':
        unit = 1024;
        end++;
        break;
    case 'M':
        unit = 1024 * 1024;
        end++;
        break;
    case 'G':
        unit = 1024 * 1024 * 1024;
        end++;
        break;
    default:
        return FALSE;
    }
    if (*end != '\0' || n > G_MAXUINT64 / unit) {
        return FALSE;
    }
    *out = n * unit;
    return TRUE;
}

static int
listen_tcp(const char *address, int port, GError **error)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int one = 1;
    bmc_autofd int fd = -1;

    memset(&ss, 0, sizeof(ss));
    if (strchr(address, ':')) {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((guint16)port);
        if (inet_pton(AF_INET6, address, &a6->sin6_addr) != 1) {
            len = 0;
        } else {
            len = sizeof(*a6);
        }
    } else {
        struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
        a4->sin_family = AF_INET;
        a4->sin_port = htons((guint16)port);
        len = inet_pton(AF_INET, address, &a4->sin_addr) == 1 ? sizeof(*a4) : 0;
    }
    if (len == 0) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "--address %s: not an IP address", address);
        return -1;
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 4) < 0) {
        int err = errno;
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err),
                    "cannot listen on %s port %d: %s", address, port,
                    g_strerror(err));
        return -1;
    }
    return bmc_steal_fd(&fd);
}

/* An inherited listening socket (supervisord's fcgi-program socket). */
static gboolean
check_listen_fd(int fd, GError **error)
{
    struct stat st;
    int accepting = 0;
    socklen_t len = sizeof(accepting);

    if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode) ||
        getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) < 0 ||
        !accepting) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "--listen-fd %d: not a listening socket", fd);
        return FALSE;
    }
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
        int err = errno;
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err),
                    "--listen-fd %d: %s", fd, g_strerror(err));
        return FALSE;
    }
    return TRUE;
}

static gboolean
on_signal(gpointer data)
{
    GMainLoop *loop = data;

    g_message("stopping: flushing the console log");
    g_main_loop_quit(loop);
    return G_SOURCE_CONTINUE;
}

int
main(int argc, char **argv)
{
    g_autofree char *serial = NULL;
    g_autofree char *console = NULL;
    g_autofree char *address = g_strdup("127.0.0.1");
    g_autofree char *log_path = NULL;
    g_autofree char *log_size_text = NULL;
    g_autofree char *client_queue_text = NULL;
    g_autofree char *sol_rate_text = NULL;
    int port = -1;
    int listen_fd = -1;
    int log_files = DEFAULT_LOG_FILES;
    gboolean to_stdout = FALSE;
    gboolean debug = FALSE;
    GOptionEntry entries[] = {
        {"serial", 0, 0, G_OPTION_ARG_FILENAME, &serial,
         "QEMU's serial socket (QEMU listens)", "PATH"},
        {"console", 0, 0, G_OPTION_ARG_FILENAME, &console,
         "listen here for one operator client", "PATH"},
        {"port", 0, 0, G_OPTION_ARG_INT, &port,
         "listen for ipmi_sim's SOL on this TCP port", "PORT"},
        {"address", 0, 0, G_OPTION_ARG_STRING, &address,
         "... on this address (default 127.0.0.1)", "ADDR"},
        {"listen-fd", 0, 0, G_OPTION_ARG_INT, &listen_fd,
         "... or accept on this inherited listening socket", "FD"},
        {"log", 0, 0, G_OPTION_ARG_FILENAME, &log_path,
         "keep the console output in this file", "PATH"},
        {"log-size", 0, 0, G_OPTION_ARG_STRING, &log_size_text,
         "rotate the log at this size (default 10M)", "SIZE"},
        {"log-files", 0, 0, G_OPTION_ARG_INT, &log_files,
         "rotated logs to keep (default 3)", "N"},
        {"stdout", 0, 0, G_OPTION_ARG_NONE, &to_stdout,
         "copy the console output to stdout", NULL},
        {"client-queue", 0, 0, G_OPTION_ARG_STRING, &client_queue_text,
         "output buffered per client (default 256K)", "SIZE"},
        {"sol-rate", 0, 0, G_OPTION_ARG_STRING, &sol_rate_text,
         "pace SOL output to SIZE bytes a second (default 64K; 0: unpaced)",
         "SIZE"},
        {"debug", 0, 0, G_OPTION_ARG_NONE, &debug, "log more", NULL},
        {NULL},
    };
    g_autoptr(GOptionContext) octx =
        g_option_context_new("- serial console bridge for ipmi_sim's SOL");
    g_autoptr(GError) error = NULL;
    g_autoptr(ConsoleLog) log = NULL;
    g_autoptr(SolBridge) bridge = NULL;
    g_autoptr(GMainLoop) loop = NULL;
    SolBridgeOptions opts = {.sol_listen_fd = -1, .mirror_fd = -1};
    guint64 log_size = DEFAULT_LOG_SIZE;
    guint64 client_queue = SOL_BRIDGE_DEFAULT_CLIENT_QUEUE;
    guint64 sol_rate = SOL_BRIDGE_DEFAULT_RATE;

    g_log_set_writer_func(log_writer, NULL, NULL);
    signal(SIGPIPE, SIG_IGN);

    g_option_context_add_main_entries(octx, entries, NULL);
    if (!g_option_context_parse(octx, &argc, &argv, &error)) {
        die_usage("%s", error->message);
    }
    if (argc > 1) {
        die_usage("unexpected argument %s", argv[1]);
    }
    if (debug) {
        max_level = G_LOG_LEVEL_DEBUG;
    }
    if (!serial) {
        die_usage("--serial PATH is required");
    }
    if ((port >= 0) == (listen_fd >= 0)) {
        die_usage("give one of --port PORT or --listen-fd FD");
    }
    if (port >= 0 && (port < 1 || port > 65535)) {
        die_usage("--port %d: must be from 1 to 65535", port);
    }
    if (log_size_text && !parse_size(log_size_text, &log_size)) {
        die_usage("--log-size %s: expected a size such as 4096, 512K or 10M",
                  log_size_text);
    }
    if (log_size < CONSOLE_LOG_MIN_SIZE || log_size > G_MAXINT64) {
        die_usage("--log-size %s: at least %d bytes",
                  log_size_text ? log_size_text : "", CONSOLE_LOG_MIN_SIZE);
    }
    if (log_files < 0 || log_files > CONSOLE_LOG_MAX_KEEP) {
        die_usage("--log-files %d: must be from 0 to %d", log_files,
                  CONSOLE_LOG_MAX_KEEP);
    }
    if (client_queue_text &&
        (!parse_size(client_queue_text, &client_queue) || client_queue < 1024 ||
         client_queue > 64 * 1024 * 1024)) {
        die_usage("--client-queue %s: expected a size from 1K to 64M",
                  client_queue_text);
    }

    if (sol_rate_text &&
        (!parse_size(sol_rate_text, &sol_rate) ||
         (sol_rate != 0 && sol_rate < 1024) || sol_rate > 64 * 1024 * 1024)) {
        die_usage("--sol-rate %s: expected 0 or a size from 1K to 64M",
                  sol_rate_text);
    }

    if (listen_fd >= 0) {
        if (!check_listen_fd(listen_fd, &error)) {
            die_usage("%s", error->message);
        }
        opts.sol_listen_fd = listen_fd;
    } else {
        opts.sol_listen_fd = listen_tcp(address, port, &error);
        if (opts.sol_listen_fd < 0) {
            die_usage("%s", error->message);
        }
    }
    if (log_path) {
        log = console_log_open(log_path, (goffset)log_size, (guint)log_files,
                               &error);
        if (!log) {
            die_usage("%s", error->message);
        }
    }
    if (to_stdout) {
        /* Never block on a stalled reader of our stdout. */
        if (!g_unix_set_fd_nonblocking(STDOUT_FILENO, TRUE, &error)) {
            die_usage("stdout: %s", error->message);
        }
        opts.mirror_fd = STDOUT_FILENO;
    }
    opts.serial_path = serial;
    opts.ops_path = console;
    opts.log = log;
    opts.client_queue = (gsize)client_queue;
    opts.sol_rate = (guint)sol_rate;

    if (listen_fd >= 0) {
        g_message("SOL on inherited socket %d; QEMU serial %s; operators %s",
                  listen_fd, serial, console ? console : "(none)");
    } else {
        g_message("SOL on %s port %d; QEMU serial %s; operators %s", address,
                  port, serial, console ? console : "(none)");
    }

    loop = g_main_loop_new(NULL, FALSE);
    bridge = sol_bridge_new(&opts, NULL, &error);
    if (!bridge) {
        die_usage("%s", error->message);
    }
    g_unix_signal_add(SIGTERM, on_signal, loop);
    g_unix_signal_add(SIGINT, on_signal, loop);
    g_unix_signal_add(SIGHUP, on_signal, loop);

    g_main_loop_run(loop);

    sol_bridge_flush(bridge);
    g_clear_pointer(&bridge, sol_bridge_free);
    return 0;
}
