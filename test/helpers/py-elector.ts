/**
 * A Python bus elector with the semantics of Python OpenSRE's self-electing broker: exclusive
 * `fcntl.flock` on `agents-bus.sock.lock` around check sidecar → unlink stale socket → bind
 * (umask 0177) → write the pid sidecar; then a broker thread that forwards each line to every
 * other connection. Whoever wins, it then attaches as a client.
 *
 *   python3 -c PY_ELECTOR <home> [hold-seconds]
 * prints `locked` (after taking the flock, then holds it for hold-seconds), `broker` or
 * `client`, `attached`, then `msg <summary>` per frame received; reads `pub <summary>` lines.
 */
export const PY_ELECTOR = String.raw`
import fcntl, json, os, socket, sys, threading, time
home = sys.argv[1]
hold = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
sock_path = os.path.join(home, "agents-bus.sock")
pid_path = sock_path + ".pid"
os.makedirs(home, mode=0o700, exist_ok=True)

def live():
    try:
        pid = int(open(pid_path).read().strip())
    except Exception:
        return None
    try:
        os.kill(pid, 0)
        return pid
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid

def serve(srv):
    conns, guard = [], threading.Lock()
    def reader(c):
        buf = b""
        while True:
            try:
                d = c.recv(65536)
            except OSError:
                d = b""
            if not d:
                break
            buf += d
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                with guard:
                    others = [o for o in conns if o is not c]
                for o in others:
                    try:
                        o.sendall(line + b"\n")
                    except OSError:
                        pass
        with guard:
            if c in conns:
                conns.remove(c)
    while True:
        c, _ = srv.accept()
        with guard:
            conns.append(c)
        threading.Thread(target=reader, args=(c,), daemon=True).start()

fd = os.open(sock_path + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(hold)
role = "client"
if live() is None:
    for p in (sock_path, pid_path):
        try:
            os.unlink(p)
        except FileNotFoundError:
            pass
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    srv.bind(sock_path)
    os.umask(old)
    srv.listen(64)
    with open(pid_path, "w") as f:
        f.write(str(os.getpid()))
    threading.Thread(target=serve, args=(srv,), daemon=True).start()
    role = "broker"
fcntl.flock(fd, fcntl.LOCK_UN)
os.close(fd)
print(role, flush=True)
cli = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
cli.connect(sock_path)
print("attached", flush=True)
def rx():
    buf = b""
    while True:
        d = cli.recv(65536)
        if not d:
            break
        buf += d
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            try:
                print("msg " + json.loads(line)["summary"], flush=True)
            except Exception:
                pass
threading.Thread(target=rx, daemon=True).start()
for line in sys.stdin:
    s = line.strip()
    if s.startswith("pub "):
        cli.sendall((json.dumps({"agent": "py:%d" % os.getpid(), "topic": "finding", "summary": s[4:], "schema_version": 1}) + "\n").encode())
`;
