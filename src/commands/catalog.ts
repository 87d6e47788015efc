import type { CommandSpec } from "../shell/command.js";

/**
 * What every command is called and how it is used, without loading it: the registry lists
 * these, and a command module (with its dependencies: YAML, schemas, OpenTelemetry, the
 * file watcher, …) is imported only when its command runs. Keeps start-up fast and small
 * for the one-shot commands and for the Claude Code hook, which runs before every edit.
 */
export type CommandMeta = Pick<CommandSpec, "path" | "summary" | "usage">;

export const CATALOG = {
  agents: { path: ["agents"], summary: "the fleet dashboard: every local AI agent with its golden signals (--watch: the live view)", usage: "usage: /agents [--wide] [--json] [--watch [--interval S]]" },
  top: { path: ["top"], summary: "the live fleet view, full screen (≡ /agents --watch): select, sort, filter, details, trace, bus, incidents, kill", usage: "usage: /top [--interval S]" },
  bus: { path: ["agents","bus"], summary: "tail the local bus of findings between agents (live, Ctrl-C to exit)", usage: "usage: /agents bus [--json]" },
  publish: { path: ["agents","publish"], summary: "publish one finding on the bus (for shell scripts and agents without Node code)", usage: "usage: /agents publish --agent NAME:PID --summary TEXT [--topic finding] [--source S] [--path P] [--data JSON]" },
  trace: { path: ["agents","trace"], summary: "live tail of an agent's stdout (like kubectl logs -f); Ctrl+C to stop", usage: "usage: /agents trace <pid> [--tail N] [--stderr] [--raw] [--transcript]" },
  register: { path: ["agents","register"], summary: "register a process as an agent (its name is shown everywhere)", usage: "usage: /agents register <pid> [name] [--command C]" },
  forget: { path: ["agents","forget"], summary: "remove a process from the agent registry", usage: "usage: /agents forget <pid>" },
  scan: { path: ["agents","scan"], summary: "discover agent processes (--explain says why each matched)", usage: "usage: /agents scan [--register] [--all] [--explain]" },
  budget: { path: ["agents","budget"], summary: "per-agent SLOs: hourly $ budget, progress minutes, error rate, objectives over a window with their error budget (agents.yaml)", usage: "usage: /agents budget [<agent> [<usd>] [--progress-minutes N] [--error-rate PCT] [--success PCT] [--spend PCT] [--window DURATION] [--provider]]" },
  incidents: { path: ["agents","incidents"], summary: "SLO incidents: list, show <id> (evidence), ack <id>, resolve <id>", usage: "usage: /agents incidents [--all] [--json] | show <id> | ack <id> | resolve <id>" },
  kill: { path: ["agents","kill"], summary: "stop an agent: SIGTERM, 5 s grace, then SIGKILL (asks first unless --force)", usage: "usage: /agents kill <pid> [--force] [--any]" },
  watch: { path: ["agents","watch"], summary: "run the SLO watchdog in the foreground (incidents on the bus and to --notify-command)", usage: "usage: /agents watch [--interval S] [--notify-command CMD] [--once] [--otlp-port N [--otlp-host H] [--otlp-allow-remote]] [--metrics-port N [--metrics-host H]] [--otlp-endpoint URL [--otlp-protocol http/protobuf|http/json]]" },
  alertRules: { path: ["agents","alert-rules"], summary: "Prometheus alert rules for the SLOs of agents.yaml (the watchdog's rules, as PromQL)", usage: "usage: /agents alert-rules [--job NAME]" },
  conflicts: { path: ["agents","conflicts"], summary: "files written by two agents within seconds of each other (and shared worktrees)", usage: "usage: /agents conflicts [--window S] [--since DURATION] [--watch [--interval S]] [--json]" },
  claim: { path: ["agents","claim"], summary: "hold a branch (or, with --path GLOB, files) for one registered agent", usage: "/agents claim <branch> <agent-name>  |  /agents claim --path GLOB <agent-name>" },
  release: { path: ["agents","release"], summary: "release a claimed branch (or, with --path GLOB, a path claim)", usage: "/agents release <branch>  |  /agents release --path GLOB" },
  claims: { path: ["agents","claims"], summary: "list branch and path claims (claims of exited agents have expired)", usage: "/agents claims" },
  wait: { path: ["agents","wait"], summary: "record that one agent waits on another (cycles are refused); --clear ends the wait", usage: "/agents wait <pid> --on <other-pid>  |  /agents wait <pid> --clear" },
  graph: { path: ["agents","graph"], summary: "the wait graph: who waits on whom, for how long, and any cycle", usage: "/agents graph" },
  report: { path: ["agents","report"], summary: "usage history: tokens, cost, errors, latency and incidents by agent, provider, project, model or period", usage: "usage: /agents report [--by agent|provider|project|model|session|day|week|month] [--since WHEN] [--until WHEN] [--json|--csv] | --store" },
  hook: { path: ["agents","hook"], summary: "Claude Code PreToolUse hook: block an edit another live agent just made or holds a claim on", usage: "usage: /agents hook claude-pretool [--window S]" },
  web: { path: ["agents","web"], summary: "the dashboard as a local web page: live fleet, charts, SLOs, incidents, bus, conflicts (loopback, token in the URL)", usage: "usage: /agents web [--port 7464] [--host 127.0.0.1] [--open] [--interval S]" },
} as const satisfies Record<string, CommandMeta>;
