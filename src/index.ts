/**
 * opensre-agents as a library: the same code the `opensre` command runs.
 */
export { opensreHome, ensureHome } from "./util/home.js";
export { CommandRegistry } from "./shell/registry.js";
export type { CommandSpec, CommandContext, ShellService } from "./shell/command.js";
export { UsageError, CommandError } from "./shell/command.js";
export { buildRegistry } from "./commands/index.js";
export {
  publish,
  subscribe,
  closePublishers,
  brokerStats,
  Subscription,
  BusClosedError,
  BusConnectionError,
  BusDecodeError,
  BusFrameTooLargeError,
  createMessage,
  encodeMessage,
  decodeFrame,
  busSocketPath,
  type BusMessage,
  type BusMessageInput,
  type BusFrame,
} from "./bus/index.js";
export { resolveStdTarget, followFile, AnsiSanitizer, runTraceSession, type StdTarget, type ResolveResult } from "./trace/index.js";
export { FleetCollector } from "./fleet/collector.js";
export { discover, classify } from "./fleet/discovery.js";
export type { FleetAgent, FleetSnapshot, AgentRecord, TranscriptSignals, ResourceSignals } from "./fleet/model.js";
export { loadConfig, parseConfig, settingsFor, updateAgentSettings, ConfigError, type SloConfig, type SloSettings } from "./slo/config.js";
export { evaluateAgent, sloTarget, type SloFinding, type SloName } from "./slo/evaluate.js";
export { readIncidents, closeIncident, type Incident, type CloseResult } from "./slo/incidents.js";
export { Watchdog, type WatchdogEvent } from "./slo/watchdog.js";
export { terminate, checkKill, killAgent, killQuestion, type KillCheck, type KillResult } from "./slo/kill.js";
export { runFleetView, type FleetSource, type FleetViewOptions } from "./tui/fleet-view.js";
export { fittedTable, fitColumns, type ColumnSpec } from "./tui/table.js";
export { sortAgents, matchesFilter, fleetTotals, SORTS, type SortKey, type Totals } from "./fleet/view.js";
export { startWebServer, type WebServerOptions, type RunningWebServer } from "./web/server.js";
export type { WebState, SeriesResponse, SloGauge, BusLine } from "./web/protocol.js";
export { FleetMetrics, type Collection } from "./telemetry/fleet-metrics.js";
export { INSTRUMENTS, prometheusName, prometheusLabel } from "./telemetry/instruments.js";
export { renderPrometheus } from "./telemetry/prometheus.js";
export { alertRules, alertRulesYaml } from "./telemetry/alert-rules.js";
export { HistoryStore, historyPath, storeInfo, type StoreInfo } from "./history/store.js";
export { HistoryIngest, type IngestStats } from "./history/ingest.js";
export { HistoryRecorder } from "./history/recorder.js";
export { buildReport, GROUP_BY, type GroupBy, type Report, type ReportRow, type ReportQuery } from "./history/report.js";
export { HistoryError, HistoryUnavailableError } from "./history/sqlite.js";
export { querySeries, SERIES_METRICS, type SeriesMetric, type SeriesQuery, type SeriesResult, type Series } from "./history/series.js";
export { objectiveSli, objectiveStatus, type ObjectiveScope } from "./history/objectives.js";
export {
  OBJECTIVE_KINDS,
  BURN_ALERT_PAIRS,
  burnThreshold,
  objectivesOf,
  budgetStatus,
  burnRate,
  type Objective,
  type ObjectiveKind,
  type BudgetStatus,
  type BurnAlertPair,
} from "./slo/objectives.js";
