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

/** Something that happened between frames of a subscription: frames dropped, a handover, a frame over a limit. */
export type SubEventKind = { dropped: number; by: "client" } | { handover: { from: number; to: number } } | { bad: string };
/** An event of a frames batch, in order: it comes before the frame that starts at byte `at` of the batch. */
export type SubEvent = SubEventKind & { at: number };

export type ToThread =
  | { op: "startBroker"; req: number; path: string; stats: SharedArrayBuffer }
  | { op: "stopBroker"; req: number; path: string; graceMs: number }
  | { op: "publish"; path: string; seqs: Float64Array; data: Uint8Array; ends: Float64Array }
  | { op: "elected"; path: string; pid: number; hosted: boolean }
  | { op: "electFailed"; path: string; error: WireError }
  | { op: "subscribe"; req: number; sub: number; path: string; pid: number; taken: SharedArrayBuffer }
  | { op: "taken"; sub: number }
  | { op: "unsubscribe"; sub: number }
  | { op: "flush"; req: number; close: boolean }
  | { op: "exit"; deadline: number };

export type FromThread =
  | { op: "reply"; req: number; error?: WireError }
  | { op: "confirmed"; seqs: Float64Array }
  | { op: "failed"; seqs: number[]; error: WireError }
  | { op: "elect"; path: string }
  | { op: "frames"; sub: number; data: Uint8Array; events: SubEvent[] }
  | { op: "subClosed"; sub: number; reason: "gone" | "disconnected" | "stopped"; brokerPid: number; error?: WireError }
  | { op: "warning"; text: string };

/**
 * A subscription's memory shared between its reader's thread and the bus thread (Int32Array, TAKEN_SLOTS):
 * - `TAKEN_POSITION`: bytes the reader has taken so far (wrapping). The reader stores it as it
 *   takes each frame, which costs no message and no clock read; the bus thread reads it whenever
 *   it judges the reader (stalled, lagging) or frees room in the window.
 * - `TAKEN_WAKE`: 1 while the bus thread holds something back until the reader takes more (a
 *   batch beyond the window, drops to report, a paused feed). Only then does the reader send a
 *   `taken` message, after a good part of the window or on catching up; otherwise taking
 *   frames costs it no message at all.
 * Both sides store before they look at the other's slot (sequentially consistent), so a
 * wake-up is never missed: either the reader sees the flag or the bus thread sees the position.
 */
export const TAKEN_POSITION = 0;
export const TAKEN_WAKE = 1;
export const TAKEN_SLOTS = 2;

/** Slots of the control array shared with the bus thread. */
export const CTRL_EXIT_DONE = 0;
export const CTRL_SLOTS = 1;

/** Slots of a hosted broker's stats array (Float64Array), written by the bus thread. */
export const STATS_SLOTS = ["subscribers", "framesIn", "framesOut", "dropped", "evicted", "refused"] as const;
