import { spawn } from "node:child_process";
import { CommandError, UsageError, type CommandSpec } from "../shell/command.js";
import { intFlag, parseFlags } from "../shell/args.js";
import { escapeText } from "../term/sanitize.js";
import { CATALOG } from "./catalog.js";

const USAGE = CATALOG.web.usage;
/** The dashboard's default port (an unassigned one, near the tool's others). */
export const WEB_PORT = 7464;
export const WEB_HOST = "127.0.0.1";

export const WEB_STOPPED = "· dashboard stopped";
/** Printed when listening beyond loopback: the token is then the only guard. */
export const NOT_LOOPBACK = (host: string) =>
  `warning: listening on ${host}, reachable from other machines; anyone with the URL (its token) can act on your agents`;

/** `xdg-open` (Linux), `open` (macOS), `start` (Windows): the desktop's own way to open a URL. */
function openBrowser(url: string, onError: (m: string) => void): void {
  const [cmd, args] = process.platform === "darwin" ? ["open", [url]] : process.platform === "win32" ? ["cmd", ["/c", "start", "", url]] : ["xdg-open", [url]];
  try {
    const child = spawn(cmd, args as string[], { stdio: "ignore", detached: true });
    child.on("error", (err) => onError(`could not open a browser (${cmd}: ${err.message}); open the URL above`));
    // xdg-open says "no browser" (no desktop, nothing registered for http) by its exit status alone
    child.on("exit", (code) => {
      if (code !== null && code !== 0) onError(`could not open a browser (${cmd} exited with status ${code}); open the URL above`);
    });
    child.unref();
  } catch (err) {
    onError(`could not open a browser (${(err as Error).message}); open the URL above`);
  }
}

export const webCommand: CommandSpec = {
  ...CATALOG.web,
  async run(args, ctx) {
    const { values, positionals } = parseFlags(args, { port: { type: "string" }, host: { type: "string" }, open: { type: "boolean" }, interval: { type: "string" } }, USAGE);
    if (positionals.length) throw new UsageError(USAGE);
    const port = intFlag(values.port as string | undefined, "--port") ?? WEB_PORT;
    if (port > 65535) throw new UsageError("invalid --port: must be an integer ≤ 65535");
    const host = ((values.host as string | undefined) ?? WEB_HOST).trim();
    if (!host || /[\s/?#@]/.test(host)) throw new UsageError(`invalid --host: ${escapeText(host)} (an address such as 127.0.0.1 or ::1)`);
    const raw = (values.interval as string | undefined) ?? "2";
    const interval = Number(raw);
    if (!Number.isFinite(interval) || interval < 0.5) throw new UsageError(`invalid --interval: ${escapeText(raw)} (seconds, at least 0.5)`);

    const { startWebServer } = await import("../web/server.js");
    const { isLoopback } = await import("../web/security.js");
    const { openHistory } = await import("../web/history.js");
    const history = await openHistory(ctx.home, ctx.env);
    let server;
    try {
      server = await startWebServer({ home: ctx.home, env: ctx.env, host, port, intervalMs: interval * 1000, history });
    } catch (err) {
      history?.close();
      const code = (err as NodeJS.ErrnoException).code;
      const where = `${escapeText(host)}:${port}`;
      if (code === "EADDRINUSE") throw new CommandError(`cannot listen on ${where}: the port is in use (another dashboard? choose one with --port)`);
      if (code === "EADDRNOTAVAIL" || code === "ENOTFOUND" || code === "EAI_AGAIN") throw new CommandError(`cannot listen on ${where}: no such local address`);
      if (code === "EACCES") throw new CommandError(`cannot listen on ${where}: permission denied (ports below 1024 need privileges)`);
      throw err;
    }
    if (!isLoopback(host)) ctx.stderr.write(NOT_LOOPBACK(escapeText(host)) + "\n");
    ctx.stdout.write(`dashboard on ${server.url}\n`);
    ctx.stdout.write("the token in the URL is required on every request; q or Ctrl+C to stop\n");
    let offKey: (() => void) | undefined;
    if (values.open === true) openBrowser(server.url, (m) => ctx.stderr.write(`warning: ${m}\n`));
    await new Promise<void>((resolve) => {
      if (ctx.signal.aborted) return resolve();
      ctx.signal.addEventListener("abort", () => resolve(), { once: true });
      offKey = ctx.onKey((k) => {
        if (k === "q" || k === "Q") resolve();
      });
    });
    offKey?.();
    await server.close();
    ctx.stdout.write(WEB_STOPPED + "\n");
    return 0;
  },
};
