"""A stand-in for systemd's notify socket: binds a unix datagram socket at argv[1] and appends one JSON line per
datagram to argv[2]: {"t": wall-clock ms, "pid": the sender's PID from SCM_CREDENTIALS, "fields": {KEY: VALUE}}.
"t" is the kernel's timestamp of the datagram (SO_TIMESTAMP: when it was sent), not when this script got to read
it, so that a busy machine does not make a message look later than it was. Prints "listening" once bound. Runs
until killed."""
import json
import os
import socket
import struct
import sys
import time

SO_PASSCRED = getattr(socket, "SO_PASSCRED", 16)
SCM_CREDENTIALS = getattr(socket, "SCM_CREDENTIALS", 2)
CREDS = struct.calcsize("iII")
SO_TIMESTAMP = getattr(socket, "SO_TIMESTAMP", 29)
TIMEVAL = struct.calcsize("qq")

path, out = sys.argv[1], sys.argv[2]
if os.path.exists(path):
    os.unlink(path)
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
# Like systemd: ask the kernel for the sender's credentials on every datagram.
sock.setsockopt(socket.SOL_SOCKET, SO_PASSCRED, 1)
sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMP, 1)
sock.bind(path)
print("listening", flush=True)
with open(out, "a", buffering=1) as f:
    while True:
        data, ancillary, _flags, _addr = sock.recvmsg(65536, socket.CMSG_SPACE(CREDS) + socket.CMSG_SPACE(TIMEVAL))
        pid = None
        t = time.time() * 1000
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == SCM_CREDENTIALS and len(payload) >= CREDS:
                pid = struct.unpack("iII", payload[:CREDS])[0]
            elif level == socket.SOL_SOCKET and kind == SO_TIMESTAMP and len(payload) >= TIMEVAL:
                sec, usec = struct.unpack("qq", payload[:TIMEVAL])
                t = sec * 1000 + usec / 1000
        fields = dict(line.split("=", 1) for line in data.decode("utf-8").split("\n") if "=" in line)
        f.write(json.dumps({"t": t, "pid": pid, "fields": fields}) + "\n")
