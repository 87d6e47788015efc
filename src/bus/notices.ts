import { encodeMessage, type BusMessage } from "./message.js";

/**
 * Notices: frames the broker itself sends to one subscriber, in the seed's schema so every
 * client can read them (a Python `/agents bus` shows them as a line from `opensre-bus:<pid>`).
 *
 * - `dropped`: frames were dropped for this subscriber because its queue was full; sent as
 *   soon as the queue has room again, with the count since the last notice.
 * - `handover`: the broker is stopping; clients should attach to the next one (elect it).
 *   Our publishers stop writing to it and close their side once it has read everything;
 *   our subscribers attach to the next broker before letting go of this one.
 *
 * A peer can forge a notice (the bus is a trusted-peer channel); the worst it does is an
 * extra status line or a reconnection to the same live broker.
 */
export const NOTICE_AGENT = "opensre-bus";
export const NOTICE_TOPIC = "bus";

export type Notice = { event: "dropped"; dropped: number } | { event: "handover" };

export function noticeFrame(brokerPid: number, notice: Notice): Buffer {
  const summary =
    notice.event === "dropped"
      ? `dropped ${notice.dropped} frame${notice.dropped === 1 ? "" : "s"} for this subscriber: it was not reading fast enough`
      : "the bus broker is stopping; clients attach to the next one";
  return Buffer.from(
    encodeMessage({
      agent: `${NOTICE_AGENT}:${brokerPid}`,
      topic: NOTICE_TOPIC,
      summary,
      source: NOTICE_AGENT,
      data: notice.event === "dropped" ? { event: "dropped", dropped: notice.dropped } : { event: "handover" },
    }),
  );
}

/** The first bytes of every notice from `brokerPid`, for a cheap look before decoding. */
export function noticePrefix(brokerPid: number): Buffer {
  return Buffer.from(`{"agent":"${NOTICE_AGENT}:${brokerPid}","topic":"${NOTICE_TOPIC}"`);
}

/** The notice a decoded message carries, if it is one from `brokerPid`. */
export function readNotice(m: BusMessage, brokerPid: number): Notice | null {
  if (m.topic !== NOTICE_TOPIC || !m.agent.startsWith(NOTICE_AGENT) || m.agent !== `${NOTICE_AGENT}:${brokerPid}`) return null;
  if (m.data.event === "handover") return { event: "handover" };
  const n = m.data.dropped;
  if (m.data.event === "dropped" && typeof n === "number" && Number.isSafeInteger(n) && n > 0) return { event: "dropped", dropped: n };
  return null;
}

/** The notice in a raw frame from `brokerPid`, or null (decodes only frames that start like one). */
export function rawNotice(frame: Buffer, brokerPid: number, prefix: Buffer = noticePrefix(brokerPid)): Notice | null {
  if (frame.length < prefix.length || frame.compare(prefix, 0, prefix.length, 0, prefix.length) !== 0) return null;
  try {
    const parsed = JSON.parse(frame.toString("utf8")) as BusMessage;
    if (typeof parsed !== "object" || parsed === null || typeof parsed.data !== "object" || parsed.data === null) return null;
    return readNotice(parsed, brokerPid);
  } catch {
    return null;
  }
}
