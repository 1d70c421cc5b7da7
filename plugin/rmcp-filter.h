/*
 * rmcp-filter.h - keep datagrams that crash stock lanserv off its socket.
 *
 * lanserv 2.0.33 indexes its 6-entry authentication table (ipmi_auths[])
 * with the session header's authentication type of an Activate Session
 * request, unchecked, and calls the function it finds there
 * (handle_temp_session -> ipmi_auths[msg->authtype].authcode_init).  Types
 * 3 and 5 hold NULL, 7-255 lie past the table: after a Get Session
 * Challenge for any valid user name, one unauthenticated datagram kills
 * ipmi_sim (SIGSEGV).  And an IPMI-class datagram whose RMCP sequence
 * number is not 0xff, or that is shorter than 5 bytes, makes lanserv log
 * an uninitialised message (see rmcp-filter.c): SIGSEGV at random.  These
 * packets never reach a command handler the plugin could own, so the
 * plugin attaches a classic BPF filter to ipmi_sim's UDP socket that drops
 * IPMI-class RMCP datagrams with a sequence number other than 0xff, an
 * authentication type IPMI does not define (defined: 0 none, 1 MD2, 2 MD5,
 * 4 password, 6 RMCP+), or fewer than 5 bytes.
 */
#pragma once

#include <glib.h>

#define BMC_RMCP_FILTER_ERROR (bmc_rmcp_filter_error_quark())
GQuark bmc_rmcp_filter_error_quark(void);

/* Attach the filter to the UDP socket @fd. */
gboolean rmcp_filter_attach(int fd, GError **error);

/* Attach the filter to every IPv4/IPv6 UDP socket this process has open
 * (ipmi_sim's LAN channels are its only ones).  Returns how many; -1 with
 * @error set if attaching failed on one. */
int rmcp_filter_attach_all(GError **error);

/* The check the filter makes, for the unit tests: TRUE if lanserv may see
 * the UDP payload @data. */
gboolean rmcp_filter_accepts(const guint8 *data, gsize len);
