/**
 * Messages between the process's main thread (the library API) and its bus thread (the
 * worker that owns every bus socket: the hosted broker, publisher links, subscriptions).
 */

/** An error carried across threads: message and errno-style code survive. */
export interface WireError {
  name: string;
  message: string;
  code?: string;
}

export function toWire(err: unknown): WireError {
  const e = err as NodeJS.ErrnoException;
  return { name: e?.name ?? "Error", message: e?.message ?? String(err), code: typeof e?.code === "string" ? e.code : undefined };
}

/** An item of a frames batch: the end offset of a frame in the batch's bytes, or an event in order. */
export type SubItem =
  | number
  | { dropped: number; by: "client" }
  | { handover: { from: number; to: number } }
  | { bad: string };

export type ToThread =
  | { op: "startBroker"; req: number; path: string; stats: SharedArrayBuffer }
  | { op: "stopBroker"; req: number; path: string; graceMs: number }
  | { op: "publish"; path: string; seqs: Float64Array; data: Uint8Array; ends: Float64Array }
  | { op: "elected"; path: string; pid: number; hosted: boolean }
  | { op: "electFailed"; path: string; error: WireError }
  | { op: "subscribe"; req: number; sub: number; path: string; pid: number }
  | { op: "ack"; sub: number; bytes: number }
  | { op: "unsubscribe"; sub: number }
  | { op: "flush"; req: number; close: boolean }
  | { op: "exit"; deadline: number };

export type FromThread =
  | { op: "reply"; req: number; error?: WireError }
  | { op: "confirmed"; seqs: Float64Array }
  | { op: "failed"; seqs: number[]; error: WireError }
  | { op: "elect"; path: string }
  | { op: "frames"; sub: number; data: Uint8Array; items: SubItem[] }
  | { op: "subClosed"; sub: number; reason: "gone" | "disconnected" | "stopped"; brokerPid: number; error?: WireError }
  | { op: "warning"; text: string };

/** Slots of the control array shared with the bus thread. */
export const CTRL_EXIT_DONE = 0;
export const CTRL_SLOTS = 1;

/** Slots of a hosted broker's stats array (Float64Array), written by the bus thread. */
export const STATS_SLOTS = ["subscribers", "framesIn", "framesOut", "dropped", "evicted", "refused"] as const;
