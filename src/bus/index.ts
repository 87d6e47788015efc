export { type BusMessage, type BusMessageInput, BusDecodeError, SCHEMA_VERSION, createMessage, decodeFrame, encodeMessage } from "./message.js";
export { busSocketPath, busPidPath, busLockPath, BUS_SOCKET_NAME } from "./paths.js";
export { Broker, type BrokerStats, MAX_FRAME_BYTES, MAX_UNTERMINATED_BYTES, EVICT_AFTER_MS } from "./broker.js";
export { ensureBroker, liveBroker, stopHostedBrokers, onBrokerWarning } from "./election.js";
export {
  publish,
  subscribe,
  closePublishers,
  brokerStats,
  Subscription,
  BusClosedError,
  BusFrameTooLargeError,
  type BusFrame,
  type BusOptions,
  type SubscribeOptions,
} from "./client.js";
