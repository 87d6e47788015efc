import type { CommandSpec, ShellService } from "../shell/command.js";
import { CommandRegistry } from "../shell/registry.js";
import { CATALOG, type CommandMeta } from "./catalog.js";

/** A command whose module is imported the first time it runs. */
function lazy(meta: CommandMeta, load: () => Promise<CommandSpec>): CommandSpec {
  return { ...meta, run: async (args, ctx) => (await load()).run(args, ctx) };
}

/** A shell service whose module is imported when the shell starts it. */
function lazyService(name: string, load: () => Promise<ShellService>): ShellService {
  return { name, start: async (ctx) => (await load()).start(ctx) };
}

/**
 * Every command of the tool. Each surface lives in its own module and registers here;
 * the shell and the CLI know commands only through the registry this returns. Modules
 * load on first use (see `catalog.ts`).
 */
export function buildRegistry(): CommandRegistry {
  const registry = new CommandRegistry();
  const c = CATALOG;
  registry.register(lazy(c.agents, async () => (await import("./agents.js")).agentsCommand));
  registry.register(lazy(c.top, async () => (await import("./agents.js")).topCommand));
  registry.register(lazy(c.bus, async () => (await import("./bus.js")).busCommand));
  registry.register(lazy(c.publish, async () => (await import("./bus.js")).publishCommand));
  registry.register(lazy(c.trace, async () => (await import("./trace.js")).traceCommand));
  registry.register(lazy(c.register, async () => (await import("./register.js")).registerCommand));
  registry.register(lazy(c.forget, async () => (await import("./register.js")).forgetCommand));
  registry.register(lazy(c.scan, async () => (await import("./register.js")).scanCommand));
  registry.register(lazy(c.budget, async () => (await import("./budget.js")).budgetCommand));
  registry.register(lazy(c.incidents, async () => (await import("./incidents.js")).incidentsCommand));
  registry.register(lazy(c.kill, async () => (await import("./kill.js")).killCommand));
  registry.register(lazy(c.watch, async () => (await import("./watch.js")).watchCommand));
  registry.register(lazy(c.alertRules, async () => (await import("./alert-rules.js")).alertRulesCommand));
  registry.register(lazy(c.conflicts, async () => (await import("./conflicts.js")).conflictsCommand));
  registry.register(lazy(c.claim, async () => (await import("./claims.js")).claimCommand));
  registry.register(lazy(c.release, async () => (await import("./claims.js")).releaseCommand));
  registry.register(lazy(c.claims, async () => (await import("./claims.js")).claimsCommand));
  registry.register(lazy(c.wait, async () => (await import("./waits.js")).waitCommand));
  registry.register(lazy(c.graph, async () => (await import("./waits.js")).graphCommand));
  registry.register(lazy(c.report, async () => (await import("./report.js")).reportCommand));
  registry.register(lazy(c.hook, async () => (await import("./hook.js")).hookCommand));
  registry.register(lazy(c.web, async () => (await import("./web.js")).webCommand));
  registry.setCompletionValues(async (placeholder, ctx) => (await import("./completions.js")).completionValues(placeholder, ctx));
  registry.addShellService(lazyService("registry sweep", async () => (await import("./agents.js")).registrySweep));
  registry.addShellService(lazyService("slo watchdog", async () => (await import("./watch.js")).watchdogService));
  return registry;
}
