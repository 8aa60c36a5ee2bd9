#!/usr/bin/env python3
"""A wire between two tun devices: every IP packet read from one is written to the other.

Usage: tun-wire.py NAME_A NAME_B. Creates both (IFF_TUN | IFF_NO_PI: packets start at the IP
header, as on pppoe-wan or a WireGuard WAN), prints "ready" once they exist, and relays until
stdin closes. The caller moves each device into a namespace of its own; the open file
descriptors keep working there.
"""
import fcntl
import os
import select
import struct
import sys

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000


def open_tun(name: str) -> int:
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def main() -> None:
    a, b = open_tun(sys.argv[1]), open_tun(sys.argv[2])
    peer = {a: b, b: a}
    print("ready", flush=True)
    stdin = sys.stdin.fileno()
    while True:
        readable, _, _ = select.select([a, b, stdin], [], [])
        for fd in readable:
            if fd == stdin:
                if not os.read(stdin, 4096):
                    return
                continue
            try:
                os.write(peer[fd], os.read(fd, 65536))
            except OSError:
                pass  # the other side is down (not yet up, or being removed): the packet is lost, as on a wire


main()
