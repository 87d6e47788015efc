import type { AgentOverrides } from "../fleet/collector.js";
import { settingsFor, type ConfigWatcher } from "../slo/config.js";

/**
 * Per-agent model and price overrides from `agents.yaml` (provider defaults, then the
 * agent's own entry), re-read when the file changes; a broken file keeps the last good one.
 */
export function agentOverrides(config: ConfigWatcher): (name: string, provider: string) => AgentOverrides | undefined {
  return (name, provider) => {
    const s = settingsFor(config.current().config, name, provider);
    if (s.model === undefined && s.input_usd_per_million_tokens === undefined && s.output_usd_per_million_tokens === undefined) return undefined;
    const o: AgentOverrides = {};
    if (s.model !== undefined) o.model = s.model;
    if (s.input_usd_per_million_tokens !== undefined) o.inputUsdPerMTok = s.input_usd_per_million_tokens;
    if (s.output_usd_per_million_tokens !== undefined) o.outputUsdPerMTok = s.output_usd_per_million_tokens;
    return o;
  };
}
