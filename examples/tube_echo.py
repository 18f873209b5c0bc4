#!/usr/bin/env python3
"""Echo through a tube: accept one and send every byte back, or open one,
send standard input and print what comes back.

    python3 examples/tube_echo.py accept 7 [RUN_DIR]            # on one tile
    echo hi | python3 examples/tube_echo.py open ET 7 [RUN_DIR]   # on its west neighbour

Exits 0 once the tube closed cleanly: everything sent was read by the far program.
"""
import socket, struct, sys

MODE = sys.argv[1]
WORDS = sys.argv[1:4] if MODE == "open" else sys.argv[1:3]
RUN_DIR = sys.argv[len(WORDS) + 1] if len(sys.argv) > len(WORDS) + 1 else "/run/itcd"

s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(RUN_DIR + "/tube.sock")
s.send(" ".join(WORDS + ["acks"]).encode())    # e.g. "open ET 7 acks"
reply = s.recv(256).decode()
if not reply.startswith("ok"):
    sys.exit("itcd refused: " + reply)
_, tube_id, link, tile = reply.split()[:4]
print("tube", tube_id, "over", link, "to tile", tile, file=sys.stderr, flush=True)

if MODE == "open":                              # short input: the echo waits for us to read
    data = sys.stdin.buffer.read()
    for i in range(0, len(data), 65536):
        s.send(b"d" + data[i:i + 65536])
    s.send(b"f")                                # no more from this side

consumed = 0
while True:
    f = s.recv(65537)
    if not f:
        sys.exit("itcd closed the tube without a word")
    kind, body = f[:1], f[1:]
    if kind == b"c":                            # closed cleanly: all delivered both ways
        break
    if kind == b"x":
        sys.exit("tube failed: " + body.decode(errors="replace"))
    if kind == b"d":
        if MODE == "open":
            sys.stdout.buffer.write(body)
            sys.stdout.flush()
        else:
            s.send(f)                           # echo it back
        consumed += len(body)
        s.send(b"a" + struct.pack(">Q", consumed))  # consumed: the sender learns it was delivered
    elif kind == b"e" and MODE == "accept":
        s.send(b"f")                            # the opener is done, so are we
