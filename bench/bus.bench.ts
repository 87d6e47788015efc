import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

/**
 * The bus against a Python broker, same clients, one run.
 *
 * 1. Delivery: 8 subscribers and one publisher at full speed (up to 1,000 publishes in
 *    flight), N frames of ~200 bytes, each client its own process. Delivered msgs/s counts
 *    frames received by all subscribers per second; "lost" is what did not arrive. CPU from
 *    /proc: the broker's and the 8 subscribers' per delivery, the publisher's per frame.
 *    Brokers: ours (a process that only hosts it), the Python-style peer written from the
 *    seed's wire format (test/helpers/pybus.py), and the Python OpenSRE bus itself when
 *    OPENSRE_PY_BUS names its module file (bus.py with `_ensure_broker`; never vendored).
 *    Clients: ours (`publish()`, and `Subscription` decoding every frame or taking raw bytes),
 *    the Python peer's (raw socket, blocking), and bare Node sockets (bus-bare.child.ts: the
 *    clients' own work taken away, so what is left is the brokers').
 * 2. Broker RSS under 4,000 slow connections, each holding a 64 KB unfinished frame.
 *
 * BUS_BENCH_FRAMES changes N (default 20,000).
 */
const here = dirname(fileURLToPath(import.meta.url));
const dist = resolve(here, "..");
const HOST = join(here, "bus-host.child.js");
const PEER = join(dist, "test", "helpers", "bus-peer.js");
const BARE = join(here, "bus-bare.child.js");
const PYBUS = join(dist, "..", "test", "helpers", "pybus.py");
const N = Number(process.env.BUS_BENCH_FRAMES ?? "20000");
const SUBSCRIBERS = 8;

// The module imports its home dir from the OpenSRE package (`from app.constants import OPENSRE_HOME_DIR`):
// a stand-in module gives it the benchmark's.
const PY_HOST = `
import importlib.util, sys, time, types
from pathlib import Path
app = types.ModuleType("app"); app.__path__ = []
constants = types.ModuleType("app.constants"); constants.OPENSRE_HOME_DIR = Path(sys.argv[2]).parent
sys.modules.setdefault("app", app); sys.modules.setdefault("app.constants", constants)
spec = importlib.util.spec_from_file_location("opensre_bus", sys.argv[1])
bus = importlib.util.module_from_spec(spec)
sys.modules["opensre_bus"] = bus
spec.loader.exec_module(bus)
bus._ensure_broker(Path(sys.argv[2]))
print("ready", flush=True)
while True:
    time.sleep(3600)
`;

interface Proc {
  child: ChildProcess;
  lines: string[];
}

function start(cmd: string, args: string[], env: NodeJS.ProcessEnv): Proc {
  const child = spawn(cmd, args, { env, stdio: ["pipe", "pipe", "ignore"] });
  const lines: string[] = [];
  createInterface({ input: child.stdout! }).on("line", (l) => lines.push(l));
  return { child, lines };
}

async function until(pred: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

function rssMiB(pid: number): number {
  return statusMiB(pid, "VmRSS");
}

/**
 * Private resident memory (RssAnon): what the process itself costs. VmRSS also counts the
 * pages of its executable and libraries, shared with every other process running them
 * (41 MiB of the node binary, shared with every Node program on the machine; 7 of Python's).
 */
function privateMiB(pid: number): number {
  return statusMiB(pid, "RssAnon");
}

function statusMiB(pid: number, field: string): number {
  try {
    return Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? NaN) / 1024;
  } catch {
    return NaN;
  }
}

function cpuMs(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return NaN;
  }
}

type BrokerKind = "ours" | "python-peer" | "opensre-python";
/**
 * Our clients are subscribers of the public API: `decode` iterates `Subscription` frame by
 * frame and gets every frame decoded and validated into a message; `raw` subscribes with
 * `decode: false` and reads `batches()`, taking each frame's bytes as received (a relay).
 * The publisher is `publish()` either way. Python's clients: the peer's raw socket, blocking.
 */
type ClientKind = "ours-decode" | "ours-raw" | "python" | "bare";
const CLIENT_ENV: Record<ClientKind, NodeJS.ProcessEnv> = {
  "ours-decode": { BUS_PEER_DECODE: "1" },
  "ours-raw": { BUS_PEER_DECODE: "0", BUS_PEER_ITER: "batches" },
  python: {},
  bare: {},
};

/** A subscriber or the publisher of one client kind (Python's publisher starts at `go`, in `delivery`). */
function startClient(clients: ClientKind, role: "sub" | "pub", socket: string, env: NodeJS.ProcessEnv): Proc {
  if (clients === "bare") return start(process.execPath, [BARE, role, socket], env);
  if (clients === "python") return start("python3", [PYBUS, "sub", socket, "--quiet", "--count", String(N)], env);
  return start(process.execPath, [PEER], { ...env, ...CLIENT_ENV[clients], BUS_PEER_MODE: role === "sub" ? "sub" : "burst" });
}

function startBroker(kind: BrokerKind, socket: string, env: NodeJS.ProcessEnv): Proc {
  if (kind === "ours") return start(process.execPath, [HOST, socket], env);
  if (kind === "python-peer") return start("python3", [PYBUS, "broker", socket], env);
  return start("python3", ["-c", PY_HOST, process.env.OPENSRE_PY_BUS!, socket], env);
}

interface Result {
  delivered: number;
  lost: number;
  secs: number;
  rss: number;
  brokerCpuUsPerDelivery: number;
  /** CPU of the 8 subscriber processes per frame delivered, and of the publisher per frame published. */
  subCpuUsPerDelivery: number;
  pubCpuUsPerFrame: number;
}

async function delivery(broker: BrokerKind, clients: ClientKind): Promise<Result | string> {
  const dir = mkdtempSync(join(tmpdir(), "osre-bench-"));
  const socket = join(dir, "agents-bus.sock");
  const env = { ...process.env, OPENSRE_HOME: dir, BUS_PEER_SOCKET: socket, BUS_PEER_QUIET: "1", BUS_PEER_COUNT: String(N) };
  const procs: Proc[] = [];
  try {
    const b = startBroker(broker, socket, env);
    procs.push(b);
    if (!(await until(() => b.lines.some((l) => l.startsWith("ready")), 60_000))) return "broker did not start";
    const subs: Proc[] = [];
    for (let i = 0; i < SUBSCRIBERS; i++) {
      const s = startClient(clients, "sub", socket, env);
      subs.push(s);
      procs.push(s);
    }
    if (!(await until(() => subs.every((s) => s.lines.some((l) => l.startsWith("ready"))), 120_000))) return "subscribers did not start";
    const pub = clients !== "python" ? startClient(clients, "pub", socket, env) : null;
    if (pub) {
      procs.push(pub);
      if (!(await until(() => pub.lines.some((l) => l.startsWith("ready")), 60_000))) return "publisher did not start";
    }
    const cpu0 = cpuMs(b.child.pid!);
    // Clients' CPU since now, sampled (a Python client exits when done: its last sample counts).
    const subCpu0 = subs.map((s) => cpuMs(s.child.pid!));
    const subCpu = [...subCpu0];
    const pubCpu0 = pub ? cpuMs(pub.child.pid!) : 0;
    let pubCpu = pubCpu0;
    let pubPid = pub?.child.pid;
    const sampleClients = () => {
      subs.forEach((s, i) => (subCpu[i] = Math.max(subCpu[i]!, cpuMs(s.child.pid!) || 0)));
      if (pubPid) pubCpu = Math.max(pubCpu, cpuMs(pubPid) || 0);
    };
    let rss = rssMiB(b.child.pid!);
    const sampler = setInterval(() => {
      rss = Math.max(rss, rssMiB(b.child.pid!));
      sampleClients();
    }, 50);
    const t0 = performance.now();
    if (pub) pub.child.stdin!.write("go\n");
    else {
      const p = start("python3", [PYBUS, "pub", socket, String(N)], env);
      pubPid = p.child.pid;
      procs.push(p);
    }
    // Count what each subscriber got (and lost): ours answer `report`; Python's print `got N` when done or cut off.
    const tally = (s: Proc): { got: number; dropped: number; done: boolean } => {
      const last = [...s.lines].reverse().find((l) => l.startsWith("got "));
      if (!last) return { got: 0, dropped: 0, done: false };
      const got = Number(/^got (\d+)/.exec(last)![1]);
      const dropped = Number(/dropped (\d+)/.exec(last)?.[1] ?? 0);
      return { got, dropped, done: clients === "python" || got + dropped >= N };
    };
    const counts = (): number[] => subs.map((s) => tally(s).got);
    const finished = () => subs.every((s) => tally(s).done);
    let last = performance.now();
    let lastTotal = -1;
    for (;;) {
      if (clients !== "python") for (const s of subs) s.child.stdin!.write("report\n");
      await new Promise((r) => setTimeout(r, 50));
      const total = counts().reduce((a, c) => a + c, 0);
      if (finished()) break;
      if (total !== lastTotal) {
        lastTotal = total;
        last = performance.now();
      } else if (performance.now() - last > (clients !== "python" ? 10_000 : 120_000)) break; // nothing more is coming (Python's subscribers report only at the end)
    }
    const secs = (performance.now() - t0) / 1000;
    clearInterval(sampler);
    sampleClients();
    const got = counts().reduce((a, c) => a + c, 0);
    const cpu = cpuMs(b.child.pid!) - cpu0;
    const subMs = subCpu.reduce((a, c, i) => a + c - subCpu0[i]!, 0);
    return {
      delivered: got / secs,
      lost: SUBSCRIBERS * N - got,
      secs,
      rss,
      brokerCpuUsPerDelivery: (cpu * 1000) / Math.max(1, got),
      subCpuUsPerDelivery: (subMs * 1000) / Math.max(1, got),
      pubCpuUsPerFrame: ((pubCpu - pubCpu0) * 1000) / N,
    };
  } finally {
    for (const p of procs) p.child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
}

function open(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(path, () => resolve(s));
    s.once("error", reject);
  });
}

/** 4,000 connections, each sending a 64 KB frame without its newline, 4 KB at a time; broker RSS once they are all in. */
async function slowConnections(broker: BrokerKind): Promise<{ rss: number; base: number; priv: number; basePriv: number; open: number } | string> {
  const dir = mkdtempSync(join(tmpdir(), "osre-bench-"));
  const socket = join(dir, "agents-bus.sock");
  const env = { ...process.env, OPENSRE_HOME: dir };
  const b = startBroker(broker, socket, env);
  const socks: Socket[] = [];
  try {
    if (!(await until(() => b.lines.some((l) => l.startsWith("ready")), 60_000))) return "broker did not start";
    await new Promise((r) => setTimeout(r, 300));
    const base = rssMiB(b.child.pid!);
    const basePriv = privateMiB(b.child.pid!);
    let open_ = 0;
    for (let i = 0; i < 4000; i++) {
      try {
        const s = await open(socket);
        s.on("error", () => undefined);
        s.on("close", () => open_--);
        open_++;
        socks.push(s);
      } catch {
        /* refused */
      }
    }
    const chunk = Buffer.alloc(4096, 0x61);
    for (let k = 0; k < 16; k++) {
      for (const s of socks) if (!s.destroyed) s.write(chunk);
      await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise((r) => setTimeout(r, 1000));
    return { rss: rssMiB(b.child.pid!), base, priv: privateMiB(b.child.pid!), basePriv, open: open_ };
  } finally {
    for (const s of socks) s.destroy();
    b.child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
}

export default async function busBench(): Promise<void> {
  const out = (s: string) => process.stdout.write(s + "\n");
  const brokers: BrokerKind[] = ["ours", "python-peer"];
  if (process.env.OPENSRE_PY_BUS && existsSync(process.env.OPENSRE_PY_BUS)) brokers.push("opensre-python");
  else out("(the Python OpenSRE bus is measured when OPENSRE_PY_BUS names its bus module file)");
  out(`delivery: ${SUBSCRIBERS} subscribers, 1 publisher at full speed, ${N} frames of ~200 B`);
  out("clients: ours-decode = Subscription, every frame decoded and validated, read frame by frame; ours-raw = Subscription");
  out("with decode: false, frames' bytes read through batches(); python = the peer's blocking raw socket. Publisher: publish().");
  out("bare = Node on raw sockets, no library: subscribers count newlines, the publisher writes 64 frames at a time (the brokers alone).");
  out("broker          clients       delivered msgs/s   lost   seconds   broker RSS peak   broker CPU µs/delivery   subscriber CPU µs/delivery   publisher CPU µs/frame");
  const rates = new Map<string, number>();
  for (const clients of ["ours-decode", "ours-raw", "python", "bare"] as const) {
    for (const broker of brokers) {
      const r = await delivery(broker, clients);
      if (typeof r === "string") {
        out(`${broker.padEnd(15)} ${clients.padEnd(13)} ${r}`);
        continue;
      }
      rates.set(`${broker}/${clients}`, r.delivered);
      out(
        `${broker.padEnd(15)} ${clients.padEnd(13)} ${r.delivered.toFixed(0).padStart(16)} ${String(r.lost).padStart(6)} ${r.secs.toFixed(1).padStart(9)} ${`${r.rss.toFixed(1)} MiB`.padStart(17)} ${r.brokerCpuUsPerDelivery.toFixed(1).padStart(24)} ${r.subCpuUsPerDelivery.toFixed(1).padStart(28)} ${r.pubCpuUsPerFrame.toFixed(1).padStart(24)}`,
      );
    }
  }
  for (const base of brokers.filter((b) => b !== "ours")) {
    for (const clients of ["ours-decode", "ours-raw", "bare"] as const) {
      const ours = rates.get(`ours/${clients}`);
      const theirs = rates.get(`${base}/${clients}`);
      const who = clients === "bare" ? "bare clients" : `our clients (${clients})`;
      // the goal is set with our clients; bare clients show the brokers' own bound
      const goal = clients === "bare" ? "" : " (goal ≥ 10×)";
      if (ours && theirs) out(`with ${who}, our broker delivers ${(ours / theirs).toFixed(1)}× the ${base} broker's msgs/s${goal}`);
    }
  }
  out("broker RSS (private in brackets: without the executable's shared pages) under 4,000 slow connections, each holding a 64 KB unfinished frame:");
  for (const broker of brokers) {
    const r = await slowConnections(broker);
    out(
      typeof r === "string"
        ? `${broker.padEnd(15)} ${r}`
        : `${broker.padEnd(15)} ${r.base.toFixed(1)} MiB (${r.basePriv.toFixed(1)}) idle → ${r.rss.toFixed(1)} MiB (${r.priv.toFixed(1)}) (${r.open} connections still open)`,
    );
  }
}
