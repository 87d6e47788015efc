export { type BusMessage, type BusMessageInput, BusDecodeError, SCHEMA_VERSION, createMessage, decodeFrame, encodeMessage } from "./message.js";
export { busSocketPath, busPidPath, busLockPath, BUS_SOCKET_NAME } from "./paths.js";
export { MAX_FRAME_BYTES, MAX_UNTERMINATED_BYTES } from "./framing.js";
export {
  Broker,
  type BrokerStats,
  type BrokerPolicy,
  type LocalSink,
  EVICT_AFTER_MS,
  HANDOVER_GRACE_MS,
  HOLD_BYTES,
  LAG_MS,
  MAX_CONNECTIONS,
  MAX_PARTIAL_BYTES,
  QUEUE_BYTES,
} from "./broker.js";
export { CLIENT_HOLD_BYTES, CLIENT_QUEUE_BYTES, CLIENT_STALL_MS, READER_WINDOW_BYTES } from "./subqueue.js";
export { CONFIRM_TIMEOUT_MS } from "./link.js";
export { EXIT_WAIT_MS, PUBLISH_WINDOW_BYTES } from "./channel.js";
export { NOTICE_AGENT, NOTICE_TOPIC, noticeFrame, readNotice, type Notice } from "./notices.js";
export { ensureBroker, liveBroker, stopHostedBrokers, onBrokerWarning, hostedBrokerStats, type BrokerOwner } from "./election.js";
export { BusClosedError, BusConnectionError, BusFrameTooLargeError } from "./errors.js";
export {
  publish,
  subscribe,
  closePublishers,
  brokerStats,
  Subscription,
  SUBSCRIPTION_BATCH_FRAMES,
  type BusFrame,
  type BusOptions,
  type SubscribeOptions,
} from "./client.js";
