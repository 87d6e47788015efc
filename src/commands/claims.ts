import { isAbsolute, resolve } from "node:path";
import { readRegistry, isRecordLive } from "../fleet/registry.js";
import { CommandError, UsageError, type CommandContext, type CommandSpec } from "../shell/command.js";
import { parseFlags } from "../shell/args.js";
import { readClaims, updateClaims } from "../conflicts/claims.js";
import { repoRoot } from "../util/repo.js";
import { processCwd } from "../fleet/procfs.js";
import { plainTable } from "../term/table.js";
import { CATALOG } from "./catalog.js";
import { escapeText as e } from "../term/sanitize.js";

const CLAIM_USAGE = "Usage: /agents claim <branch> <agent-name>";
const RELEASE_USAGE = "Usage: /agents release <branch>";

/** Warnings of the claims store (a file kept aside) go to stderr, escaped. */
const warn = (ctx: CommandContext) => (w: string) => ctx.stderr.write(`warning: ${e(w)}\n`);

function registered(home: string, name: string) {
  return readRegistry(home).records.find((r) => r.name === name && isRecordLive(r));
}

export const claimCommand: CommandSpec = {
  ...CATALOG.claim,
  async run(args, ctx) {
    const { values, positionals } = parseFlags(args, { path: { type: "string" } }, CLAIM_USAGE);
    const glob = values.path as string | undefined;
    if (glob !== undefined ? positionals.length !== 1 : positionals.length !== 2) throw new UsageError(CLAIM_USAGE);
    const name = positionals[glob !== undefined ? 0 : 1]!;
    const rec = registered(ctx.home, name);
    if (!rec) throw new CommandError(`Agent '${e(name)}' not found in registry. Use /agents to see registered agents.`);
    if (glob !== undefined) {
      // a relative glob is relative to the agent's repository
      const cwd = processCwd(rec.pid) ?? process.cwd();
      const abs = isAbsolute(glob) ? glob : resolve(repoRoot(cwd), glob);
      const msg = await updateClaims(ctx.home, (c) => {
        const held = c.paths.find((p) => p.glob === abs);
        if (held && held.pid !== rec.pid) throw new CommandError(`Cannot claim: ${e(abs)} is already held by ${e(held.name)} (pid ${held.pid}). Use /agents release first.`);
        if (!held) c.paths.push({ glob: abs, name: rec.name, pid: rec.pid, start_time: rec.start_time, claimed_at: new Date().toISOString() });
        return { result: `Path ${e(abs)} now held by ${e(rec.name)} (pid ${rec.pid}).`, write: !held };
      }, warn(ctx));
      ctx.stdout.write(msg + "\n");
      return 0;
    }
    const branch = positionals[0]!;
    const msg = await updateClaims(ctx.home, (c) => {
      const held = c.branches[branch];
      if (held && held.pid !== rec.pid) throw new CommandError(`Cannot claim: ${e(branch)} is already held by ${e(held.name)} (pid ${held.pid}). Use /agents release first.`);
      c.branches[branch] = { name: rec.name, pid: rec.pid, start_time: rec.start_time, claimed_at: held?.claimed_at ?? new Date().toISOString() };
      return { result: `Branch ${e(branch)} now held by ${e(rec.name)} (pid ${rec.pid}).`, write: true };
    }, warn(ctx));
    ctx.stdout.write(msg + "\n");
    return 0;
  },
};

export const releaseCommand: CommandSpec = {
  ...CATALOG.release,
  async run(args, ctx) {
    const { values, positionals } = parseFlags(args, { path: { type: "string" } }, RELEASE_USAGE);
    const glob = values.path as string | undefined;
    if (glob !== undefined ? positionals.length !== 0 : positionals.length !== 1) throw new UsageError(RELEASE_USAGE);
    const key = glob ?? positionals[0]!;
    const msg = await updateClaims(ctx.home, (c) => {
      if (glob !== undefined) {
        const i = c.paths.findIndex((p) => p.glob === glob || p.glob.endsWith("/" + glob));
        if (i < 0) throw new CommandError(`${e(glob)} is not currently held by any agent.`);
        const [was] = c.paths.splice(i, 1);
        return { result: `Released ${e(was!.glob)} (was held by ${e(was!.name)}).`, write: true };
      }
      const held = c.branches[key];
      if (!held) throw new CommandError(`${e(key)} is not currently held by any agent.`);
      delete c.branches[key];
      return { result: `Released ${e(key)} (was held by ${e(held.name)}).`, write: true };
    }, warn(ctx));
    ctx.stdout.write(msg + "\n");
    return 0;
  },
};

export const claimsCommand: CommandSpec = {
  ...CATALOG.claims,
  async run(args, ctx) {
    if (args.length) throw new UsageError("usage: /agents claims");
    const { claims, warning } = readClaims(ctx.home);
    if (warning) ctx.stderr.write(`warning: ${e(warning)}\n`);
    const rows = [
      ...Object.entries(claims.branches).map(([b, h]) => ["branch", b, `${h.name} (${h.pid})`, h.claimed_at]),
      ...claims.paths.map((p) => ["path", p.glob, `${p.name} (${p.pid})`, p.claimed_at]),
    ];
    ctx.stdout.write(rows.length ? plainTable(["kind", "claim", "held by", "since"], rows) : "no claims\n");
    return 0;
  },
};
