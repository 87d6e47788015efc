import { discover } from "../fleet/discovery.js";
import { readProcessTable } from "../fleet/procfs.js";
import { isRecordLive, readRegistry } from "../fleet/registry.js";
import { readIncidents } from "../slo/incidents.js";

/**
 * Values the shell completes arguments with: the live fleet's pids (discovered agents of this
 * user and live registry entries) for `<pid>`, and the ids of incidents not yet resolved for `<id>`.
 */
export async function completionValues(placeholder: string, ctx: { home: string; env: NodeJS.ProcessEnv }): Promise<string[]> {
  if (placeholder === "pid") {
    const procRoot = ctx.env.OPENSRE_PROC_ROOT || undefined;
    const pids = new Set<number>();
    try {
      for (const c of discover(readProcessTable({ procRoot }).procs, process.getuid?.() ?? -1)) pids.add(c.proc.pid);
    } catch {
      /* no process table here: registered agents only */
    }
    for (const r of readRegistry(ctx.home).records) if (isRecordLive(r)) pids.add(r.pid);
    return [...pids].sort((a, b) => a - b).map(String);
  }
  if (placeholder === "id") return readIncidents(ctx.home).incidents.filter((i) => !i.resolved_at).map((i) => i.id);
  return [];
}
