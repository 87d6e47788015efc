import type { AgentOverrides } from "../fleet/collector.js";

/** Per-agent price and model overrides from `agents.yaml` (none until budgets are configured). */
export function agentOverrides(_home: string): ((name: string, provider: string) => AgentOverrides | undefined) | undefined {
  return undefined;
}
