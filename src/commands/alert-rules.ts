import { CommandError, UsageError, type CommandSpec } from "../shell/command.js";
import { parseFlags } from "../shell/args.js";
import { ConfigError, loadConfig } from "../slo/config.js";
import { alertRulesYaml, DEFAULT_JOB } from "../telemetry/alert-rules.js";
import { CATALOG } from "./catalog.js";

const USAGE = CATALOG.alertRules.usage;

/**
 * Prints Prometheus alert rules for the SLOs of agents.yaml: the watchdog's own rules
 * (thresholds, windows, minimum requests) over the exported counters, ready for
 * `rule_files:`. `--job` names the scrape job (or OTLP service.name) of opensre.
 */
export const alertRulesCommand: CommandSpec = {
  ...CATALOG.alertRules,
  async run(args, ctx) {
    const { values, positionals } = parseFlags(args, { job: { type: "string" } }, USAGE);
    if (positionals.length) throw new UsageError(USAGE);
    const job = (values.job as string | undefined) ?? DEFAULT_JOB;
    if (!job || /[\u0000-\u001f\u007f]/.test(job)) throw new UsageError(`invalid --job: ${JSON.stringify(job)} (the scrape job name of opensre)`);
    let config;
    try {
      config = loadConfig(ctx.home);
    } catch (err) {
      if (err instanceof ConfigError) throw new CommandError(err.message);
      throw err;
    }
    const header = `# Prometheus alert rules from agents.yaml (opensre agents alert-rules --job ${job}).\n# Scrape job (or OTLP service.name) of opensre: ${job}. Regenerate after editing agents.yaml.\n`;
    ctx.stdout.write(alertRulesYaml(config, { job }, header));
    return 0;
  },
};
