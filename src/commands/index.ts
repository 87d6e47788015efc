import { CommandRegistry } from "../shell/registry.js";
import { busCommand, publishCommand } from "./bus.js";
import { traceCommand } from "./trace.js";
import { agentsCommand, registrySweep } from "./agents.js";
import { forgetCommand, registerCommand, scanCommand } from "./register.js";
import { budgetCommand } from "./budget.js";
import { incidentsCommand } from "./incidents.js";
import { killCommand } from "./kill.js";
import { watchCommand, watchdogService } from "./watch.js";
import { conflictsCommand } from "./conflicts.js";
import { claimCommand, claimsCommand, releaseCommand } from "./claims.js";
import { graphCommand, waitCommand } from "./waits.js";
import { hookCommand } from "./hook.js";

/**
 * Every command of the tool. Each surface lives in its own module and registers here;
 * the shell and the CLI know commands only through the registry this returns.
 */
export function buildRegistry(): CommandRegistry {
  const registry = new CommandRegistry();
  registry.register(agentsCommand);
  registry.register(busCommand);
  registry.register(publishCommand);
  registry.register(traceCommand);
  registry.register(registerCommand);
  registry.register(forgetCommand);
  registry.register(scanCommand);
  registry.register(budgetCommand);
  registry.register(incidentsCommand);
  registry.register(killCommand);
  registry.register(watchCommand);
  registry.register(conflictsCommand);
  registry.register(claimCommand);
  registry.register(releaseCommand);
  registry.register(claimsCommand);
  registry.register(waitCommand);
  registry.register(graphCommand);
  registry.register(hookCommand);
  registry.addShellService(registrySweep);
  registry.addShellService(watchdogService);
  return registry;
}
