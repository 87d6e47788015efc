#!/usr/bin/env python3
"""A Python peer of the agents bus for tests and benchmarks, standard library only.

Written from the seed's documented wire format (JSON Lines on a Unix stream socket,
`<sock>.pid` sidecar, election under an exclusive flock on `<sock>.lock`, 64 KiB frames)
and the behaviour of the Python broker: one thread per connection reading 4,096 bytes at
a time, a frame forwarded to every other connection with a blocking send, and a
subscriber evicted when its socket stays unwritable for 200 ms.

  pybus.py broker SOCK [--stall MS:EVERY_MS]   serve; prints "ready <pid>"; with --stall,
                                               every EVERY_MS no connection is read for MS
  pybus.py pub SOCK COUNT [--size BYTES]       publish COUNT frames (summary "py-<i>") through a
                                               cached connection with a drain thread; "sent N"
  pybus.py flood SOCK SECONDS [--size BYTES] [--rate PER_S]
                                               publish for SECONDS (as fast as possible, or at
                                               PER_S frames a second); "sent N"
  pybus.py sub SOCK [--delay-ms MS] [--count N] [--quiet | --raw] [--only PREFIX]
                                               print "ready", then "msg <summary>" per frame
                                               ("frame <line>" with --raw, nothing with --quiet),
                                               then "got N" when it has N or the broker closes
"""
import fcntl
import json
import os
import select
import socket
import sys
import threading
import time
import uuid
from datetime import datetime, timezone

MAX_FRAME = 64 * 1024
BUFFER_CAP = 4 * MAX_FRAME
SEND_DEADLINE = 0.2


def frame(summary, size=0):
    msg = {
        "agent": "pybus:%d" % os.getpid(),
        "topic": "finding",
        "summary": summary,
        "source": "",
        "path": "",
        "data": {"pad": "x" * max(0, size - 200)} if size > 200 else {},
        "id": str(uuid.uuid4()),
        "timestamp": datetime.now(timezone.utc).isoformat(),
        "schema_version": 1,
    }
    return (json.dumps(msg, separators=(",", ":")) + "\n").encode()


def broker(sock_path, stall):
    lock = os.open(sock_path + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(lock, fcntl.LOCK_EX)
    for p in (sock_path, sock_path + ".pid"):
        try:
            os.unlink(p)
        except FileNotFoundError:
            pass
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(sock_path)
    os.chmod(sock_path, 0o600)
    server.listen(64)
    tmp = sock_path + ".pid.tmp"
    with open(tmp, "w") as f:
        f.write(str(os.getpid()))
    os.replace(tmp, sock_path + ".pid")
    fcntl.flock(lock, fcntl.LOCK_UN)
    os.close(lock)

    clients = {}  # socket -> send lock
    guard = threading.Lock()
    gate = threading.Event()
    gate.set()

    def staller(ms, every):
        while True:
            time.sleep(every / 1000.0)
            gate.clear()
            time.sleep(ms / 1000.0)
            gate.set()

    if stall:
        ms, every = (int(x) for x in stall.split(":"))
        threading.Thread(target=staller, args=(ms, every), daemon=True).start()

    def drop(conn):
        with guard:
            clients.pop(conn, None)
        try:
            conn.close()
        except OSError:
            pass

    def broadcast(data, origin):
        with guard:
            targets = list(clients.items())
        gone = []
        for conn, send_lock in targets:
            if conn is origin:
                continue
            try:
                with send_lock:
                    _, ready, _ = select.select([], [conn], [], SEND_DEADLINE)
                    if not ready:
                        gone.append(conn)
                        continue
                    conn.sendall(data)
            except (OSError, ValueError):
                gone.append(conn)
        for conn in gone:
            drop(conn)

    def reader(conn):
        buf = b""
        try:
            while True:
                gate.wait()
                chunk = conn.recv(4096)
                if not chunk:
                    return
                buf += chunk
                if len(buf) > BUFFER_CAP:
                    return
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if line and len(line) <= MAX_FRAME:
                        broadcast(line + b"\n", conn)
        except OSError:
            return
        finally:
            drop(conn)

    print("ready %d" % os.getpid(), flush=True)
    while True:
        conn, _ = server.accept()
        with guard:
            clients[conn] = threading.Lock()
        threading.Thread(target=reader, args=(conn,), daemon=True).start()


def connect(sock_path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock_path)
    return s


def drain(s):
    try:
        while s.recv(65536):
            pass
    except OSError:
        pass


def publisher(sock_path):
    s = connect(sock_path)
    threading.Thread(target=drain, args=(s,), daemon=True).start()
    return s


def pub(sock_path, count, size):
    s = publisher(sock_path)
    for i in range(count):
        s.sendall(frame("py-%d" % i, size))
    s.shutdown(socket.SHUT_WR)
    print("sent %d" % count, flush=True)


def flood(sock_path, seconds, size, rate):
    s = publisher(sock_path)
    start = time.monotonic()
    end = start + seconds
    n = 0
    while time.monotonic() < end:
        s.sendall(frame("flood-%d" % n, size))
        n += 1
        if rate:
            ahead = start + n / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
    print("sent %d" % n, flush=True)


def sub(sock_path, delay_ms, count, quiet, raw, only):
    s = connect(sock_path)
    print("ready", flush=True)
    buf = b""
    got = 0
    while count is None or got < count:
        chunk = s.recv(4096)
        if not chunk:
            break
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            if not line:
                continue
            got += 1
            if raw:
                print("frame %s" % line.decode("utf-8", "replace"), flush=True)
            elif not quiet and (not only or only.encode() in line):
                try:
                    summary = json.loads(line.decode()).get("summary")
                except ValueError:
                    summary = "<bad frame>"
                if not only or str(summary).startswith(only):
                    print("msg %s" % summary, flush=True)
            if delay_ms:
                time.sleep(delay_ms / 1000.0)
    print("got %d" % got, flush=True)


def option(args, name, default=None, cast=str):
    if name in args:
        return cast(args[args.index(name) + 1])
    return default


def main(argv):
    mode, sock_path, rest = argv[1], argv[2], argv[3:]
    if mode == "broker":
        broker(sock_path, option(rest, "--stall"))
    elif mode == "pub":
        pub(sock_path, int(rest[0]), option(rest, "--size", 0, int))
    elif mode == "flood":
        flood(sock_path, float(rest[0]), option(rest, "--size", 0, int), option(rest, "--rate", 0, float))
    elif mode == "sub":
        sub(sock_path, option(rest, "--delay-ms", 0, float), option(rest, "--count", None, int), "--quiet" in rest, "--raw" in rest, option(rest, "--only"))
    else:
        sys.exit("unknown mode: " + mode)


if __name__ == "__main__":
    main(sys.argv)
