import type { Server } from "node:http";
import type { Socket } from "node:net";

/**
 * Most connections one listener keeps open. Agents keep one or two keep-alive connections
 * each and Prometheus one; 64 leaves room for a large fleet while staying far below the
 * per-process descriptor limit (1,024 by default), so a flood of idle connections cannot
 * take `/metrics`, transcripts or the bus down with EMFILE.
 */
export const MAX_CONNECTIONS = 64;
/**
 * A connection with no request in progress is closed after this long. The OpenTelemetry
 * SDKs export every 5 s (logs) to 60 s (metrics) and reconnect as needed; an idle socket
 * held longer only costs a descriptor.
 */
export const IDLE_TIMEOUT_MS = 10_000;
/** The whole request (headers and body) must arrive within this long. */
export const REQUEST_TIMEOUT_MS = 30_000;

export interface ConnectionGuard {
  /** Connections open now. */
  readonly open: number;
  /** Connections closed because the cap was reached (the longest idle went first). */
  readonly evicted: number;
}

/**
 * Caps a server's connections and times out idle ones. At the cap, the connection idle
 * the longest is closed to make room (a new client is served, a hoarder loses), and a
 * connection that sends nothing for IDLE_TIMEOUT_MS is closed.
 */
export function guardConnections(server: Server, max = MAX_CONNECTIONS, idleMs = IDLE_TIMEOUT_MS): ConnectionGuard {
  const sockets = new Map<Socket, { busy: number; lastActive: number }>();
  const stats = { open: 0, evicted: 0 };
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  server.headersTimeout = Math.min(REQUEST_TIMEOUT_MS, idleMs * 2);
  server.keepAliveTimeout = idleMs;
  server.on("connection", (socket: Socket) => {
    if (sockets.size >= max) {
      let victim: Socket | undefined;
      let oldest = Infinity;
      for (const [s, st] of sockets) if (st.busy === 0 && st.lastActive < oldest) [victim, oldest] = [s, st.lastActive];
      if (victim) {
        sockets.delete(victim);
        victim.destroy();
        stats.evicted++;
      } else {
        socket.destroy(); // every connection is mid-request: refuse the newcomer
        stats.evicted++;
        return;
      }
    }
    sockets.set(socket, { busy: 0, lastActive: Date.now() });
    stats.open = sockets.size;
    socket.setTimeout(idleMs, () => {
      const st = sockets.get(socket);
      if (!st || st.busy === 0) socket.destroy();
    });
    socket.once("close", () => {
      sockets.delete(socket);
      stats.open = sockets.size;
    });
  });
  server.on("request", (req, res) => {
    const st = sockets.get(req.socket);
    if (!st) return;
    st.busy++;
    st.lastActive = Date.now();
    res.once("close", () => {
      st.busy = Math.max(0, st.busy - 1);
      st.lastActive = Date.now();
    });
  });
  return stats;
}
