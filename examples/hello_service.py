#!/usr/bin/env python3
"""Own service 40 on this tile and greet every neighbour that connects.

    python3 examples/hello_service.py [RUN_DIR]

Run it on two neighbouring tiles: each prints the other's greeting.
"""
import socket, sys

RUN_DIR = sys.argv[1] if len(sys.argv) > 1 else "/run/itcd"
SERVICE = 40
DIRS = ["NT", "NE", "ET", "SE", "ST", "SW", "WT", "NW"]

s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(RUN_DIR + "/service.sock")
s.send(b"bind %d" % SERVICE)
reply = s.recv(256).decode()
if not reply.startswith("ok"):
    sys.exit("itcd refused: " + reply)

while True:
    pkt = s.recv(256)
    if not pkt:
        break
    if pkt[0] == 0xC4:                      # Tile Event Packet
        event, d, tile = pkt[1], pkt[2], pkt[3:11].hex()
        print("neighbour", DIRS[d], tile, "connect" if event == 1 else "disconnect", flush=True)
        if event == 1:                      # say hello on that link
            s.send(bytes([0x80 | d, SERVICE]) + b"hello from a python service")
    else:                                   # service packet: DIR = source
        print(DIRS[pkt[0] & 7], "says:", pkt[2:].decode(errors="replace"), flush=True)
