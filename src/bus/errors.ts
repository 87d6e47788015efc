import { MAX_FRAME_BYTES } from "./framing.js";
import type { WireError } from "./protocol.js";

/** The broker went away while subscribed: its process exited without handing over. */
export class BusClosedError extends Error {
  readonly brokerPid: number;
  /** `gone`: the broker's process is no longer serving; `disconnected`: it cut this subscriber off; `stopped`: this process stopped it. */
  readonly reason: "gone" | "disconnected" | "stopped";
  constructor(brokerPid: number, reason: "gone" | "disconnected" | "stopped" = "gone") {
    super(
      reason === "disconnected"
        ? `bus broker (pid ${brokerPid}) disconnected this subscriber`
        : reason === "stopped"
          ? `bus broker (pid ${brokerPid}) stopped`
          : `bus broker (pid ${brokerPid}) went away`,
    );
    this.name = "BusClosedError";
    this.brokerPid = brokerPid;
    this.reason = reason;
  }
}

/** A message too large for the bus: refused before sending, since every broker would drop it. */
export class BusFrameTooLargeError extends Error {
  constructor(bytes: number) {
    super(`message is ${bytes} bytes; the bus drops frames over ${MAX_FRAME_BYTES} bytes`);
    this.name = "BusFrameTooLargeError";
  }
}

/**
 * `publish()` could not confirm that the broker took the message: the connection broke (or
 * nothing was confirmed for a long time) after the message was written. It may or may not
 * have been delivered; it was not silently lost.
 */
export class BusConnectionError extends Error {
  readonly code: string;
  constructor(message: string, code = "EBUSCONN") {
    super(message);
    this.name = "BusConnectionError";
    this.code = code;
  }
}

/** Rebuild an error that crossed from the bus thread, keeping its class, message and code. */
export function fromWire(w: WireError): Error {
  if (w.name === "BusConnectionError") return new BusConnectionError(w.message, w.code);
  const err = new Error(w.message) as NodeJS.ErrnoException;
  if (w.name && w.name !== "Error") err.name = w.name;
  if (w.code) err.code = w.code;
  return err;
}
