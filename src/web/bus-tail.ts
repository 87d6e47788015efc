import { join } from "node:path";
import { BUS_SOCKET_NAME, Subscription } from "../bus/index.js";
import { sleepUnlessAborted } from "../util/sleep.js";
import type { BusInfo, BusLine } from "./protocol.js";

/** Bus messages the page can scroll back through; older ones leave (the bus itself keeps nothing). */
export const BUS_TAIL_LINES = 200;
/** Text of one field kept for the page: the bus caps a frame at 64 KiB, a tail line needs far less. */
export const BUS_FIELD_CHARS = 2000;
/** Wait before subscribing again after the broker went away (a new one is elected on connect). */
export const BUS_RETRY_MS = 1000;

const cut = (s: unknown): string => (typeof s === "string" ? (s.length > BUS_FIELD_CHARS ? s.slice(0, BUS_FIELD_CHARS) + "…" : s) : "");

/**
 * The tail of the local bus for the page: subscribes like `opensre agents bus` does (electing
 * a broker in this process when none runs), keeps the last BUS_TAIL_LINES messages, and tells
 * each new one to `onLine`. Re-subscribes when the broker goes away.
 */
export class BusTail {
  private readonly lines: BusLine[] = [];
  private seq = 0;
  private state: BusInfo = { connected: false, message: "connecting to the bus…" };
  private readonly stop = new AbortController();
  private running: Promise<void> | null = null;

  constructor(
    private readonly home: string,
    private readonly onLine: (line: BusLine) => void,
    private readonly now: () => number = Date.now,
  ) {}

  start(): void {
    this.running ??= this.loop();
  }

  async close(): Promise<void> {
    this.stop.abort();
    await this.running;
  }

  info(): BusInfo {
    return { ...this.state };
  }

  tail(): BusLine[] {
    return [...this.lines];
  }

  private async loop(): Promise<void> {
    const signal = this.stop.signal;
    while (!signal.aborted) {
      try {
        const sub = await Subscription.open({ path: join(this.home, BUS_SOCKET_NAME), signal });
        this.state = { connected: true, message: null };
        for await (const frame of sub) {
          // a bad frame from one peer, a drop or hand-over notice: the tail goes on with messages
          if (frame.kind !== "message") continue;
          this.push(frame.message);
        }
        if (signal.aborted) break;
        this.state = { connected: false, message: "the bus broker went away; reconnecting…" };
      } catch (err) {
        if (signal.aborted) break;
        this.state = { connected: false, message: `bus unavailable: ${(err as Error).message}` };
      }
      await sleepUnlessAborted(BUS_RETRY_MS, signal);
    }
    this.state = { connected: false, message: "stopped" };
  }

  private push(m: { id: string; timestamp: string; agent: string; topic: string; source: string; path: string; summary: string }): void {
    const line: BusLine = {
      seq: ++this.seq,
      receivedAt: this.now(),
      id: cut(m.id),
      timestamp: cut(m.timestamp),
      agent: cut(m.agent),
      topic: cut(m.topic),
      source: cut(m.source),
      path: cut(m.path),
      summary: cut(m.summary),
    };
    this.lines.push(line);
    if (this.lines.length > BUS_TAIL_LINES) this.lines.splice(0, this.lines.length - BUS_TAIL_LINES);
    this.onLine(line);
  }
}
