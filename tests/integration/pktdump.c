/* pktdump: raw Ethernet frames in and out of the demo guest, for the tests
 * of NIC passthrough (tests/integration/netns-node.sh and the container
 * test).  Built static and added to the guest's initramfs by net-lib.sh.
 *
 *   pktdump IFACE MARKER COUNT SECONDS   print, as "FRAME <hex>", each frame
 *                                        holding MARKER, until COUNT of them
 *                                        or SECONDS; then "pktdump: done N"
 *   pktdump -s IFACE HEX                 send one frame, given in hex
 *
 * Frames are shown as they were on the wire: the kernel takes a VLAN tag
 * out of the frame on receive (it lands in the packet's metadata), so it is
 * put back from PACKET_AUXDATA.  The interface is made promiscuous for the
 * capture, which also opens QEMU's receive filter (multicast such as LLDP's
 * 01:80:c2:00:00:0e, and VLANs the guest has not configured).
 */
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

static int
open_socket(const char *ifname)
{
    int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
    if (fd < 0) {
        perror("pktdump: socket");
        exit(1);
    }
    struct sockaddr_ll sll = {
        .sll_family = AF_PACKET,
        .sll_protocol = htons(ETH_P_ALL),
        .sll_ifindex = (int)if_nametoindex(ifname),
    };
    if (sll.sll_ifindex == 0 ||
        bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) {
        perror("pktdump: bind");
        exit(1);
    }
    return fd;
}

static int
send_frame(const char *ifname, const char *hex)
{
    unsigned char frame[9216];
    size_t n = strlen(hex) / 2;
    if (n < 14 || n > sizeof frame || strlen(hex) % 2) {
        fprintf(stderr, "pktdump: bad frame\n");
        return 2;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned int b;
        if (sscanf(hex + 2 * i, "%2x", &b) != 1) {
            fprintf(stderr, "pktdump: bad hex\n");
            return 2;
        }
        frame[i] = (unsigned char)b;
    }
    int fd = open_socket(ifname);
    if (send(fd, frame, n, 0) != (ssize_t)n) {
        perror("pktdump: send");
        return 1;
    }
    printf("pktdump: sent %zu bytes\n", n);
    return 0;
}

static double
now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "-s") == 0) {
        return send_frame(argv[2], argv[3]);
    }
    if (argc != 5) {
        fprintf(stderr, "usage: pktdump IFACE MARKER COUNT SECONDS | pktdump "
                        "-s IFACE HEX\n");
        return 2;
    }
    const char *marker = argv[2];
    int want = atoi(argv[3]);
    double deadline = now() + atof(argv[4]);
    int fd = open_socket(argv[1]);
    struct packet_mreq mr = {
        .mr_ifindex = (int)if_nametoindex(argv[1]),
        .mr_type = PACKET_MR_PROMISC,
    };
    int on = 1;
    if (setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr) < 0 ||
        setsockopt(fd, SOL_PACKET, PACKET_AUXDATA, &on, sizeof on) < 0) {
        perror("pktdump: setsockopt");
        return 1;
    }
    printf("pktdump: ready\n");
    fflush(stdout);
    int got = 0;
    while (got < want) {
        double left = deadline - now();
        if (left <= 0) {
            break;
        }
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, (int)(left * 1000) + 1) <= 0) {
            continue;
        }
        unsigned char buf[9216 + 4];
        union {
            struct cmsghdr h;
            char space[CMSG_SPACE(sizeof(struct tpacket_auxdata))];
        } ctl;
        struct iovec iov = {.iov_base = buf, .iov_len = sizeof buf - 4};
        struct msghdr msg = {
            .msg_iov = &iov,
            .msg_iovlen = 1,
            .msg_control = &ctl,
            .msg_controllen = sizeof ctl,
        };
        ssize_t n = recvmsg(fd, &msg, 0);
        if (n < 14) {
            continue;
        }
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c;
             c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level != SOL_PACKET || c->cmsg_type != PACKET_AUXDATA) {
                continue;
            }
            struct tpacket_auxdata aux;
            memcpy(&aux, CMSG_DATA(c), sizeof aux);
            if (aux.tp_status & TP_STATUS_VLAN_VALID) {
                unsigned short tpid =
                    (aux.tp_status & TP_STATUS_VLAN_TPID_VALID)
                        ? aux.tp_vlan_tpid
                        : ETH_P_8021Q;
                memmove(buf + 16, buf + 12, (size_t)n - 12);
                buf[12] = (unsigned char)(tpid >> 8);
                buf[13] = (unsigned char)tpid;
                buf[14] = (unsigned char)(aux.tp_vlan_tci >> 8);
                buf[15] = (unsigned char)aux.tp_vlan_tci;
                n += 4;
            }
        }
        if (!memmem(buf, (size_t)n, marker, strlen(marker))) {
            continue;
        }
        printf("FRAME ");
        for (ssize_t i = 0; i < n; i++) {
            printf("%02x", buf[i]);
        }
        printf("\n");
        fflush(stdout);
        got++;
    }
    printf("pktdump: done %d\n", got);
    fflush(stdout);
    /* Leaving promiscuous mode at exit makes the kernel print a line on
     * the serial console, straight to the UART: let our lines out first,
     * or it lands in the middle of one (seen in CI: a FRAME line cut). */
    tcdrain(STDOUT_FILENO);
    return 0;
}
