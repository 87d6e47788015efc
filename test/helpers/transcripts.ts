import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/**
 * A synthetic Claude Code tree: `files` session files of about `bytesPerFile` each, every
 * response written over two lines (the second with its final usage), tool output lines
 * between responses, and every 10th file a resumed session that copies the responses of the
 * file before it. Deterministic; returns the config dir to point CLAUDE_CONFIG_DIR at.
 */
export function writeClaudeTree(root: string, files: number, bytesPerFile: number, start = Date.parse("2026-10-01T00:00:00Z")): string {
  const dir = join(root, "claude");
  let previous: string[] = [];
  for (let f = 0; f < files; f++) {
    const cwd = `/home/dev/repo${f % 4}`;
    const project = join(dir, "projects", cwd.replace(/[^A-Za-z0-9]/g, "-"));
    mkdirSync(project, { recursive: true });
    const session = `${String(f).padStart(8, "0")}-0000-4000-8000-000000000000`;
    const lines: string[] = f % 10 === 9 ? [...previous] : [];
    const responses: string[] = [];
    let size = lines.reduce((n, l) => n + l.length + 1, 0);
    for (let j = 0; size < bytesPerFile; j++) {
      const t = new Date(start + f * 3_600_000 + j * 7_000).toISOString();
      const base = { parentUuid: null, isSidechain: false, userType: "external", cwd, sessionId: session, version: "2.1.197", timestamp: t, requestId: `req_${f}_${j}` };
      const usage = (out: number) => ({ input_tokens: 3 + (j % 5), cache_creation_input_tokens: 200 + (j % 50), cache_read_input_tokens: 15_000 + j, output_tokens: out });
      const msg = (out: number, content: unknown[]) => ({ ...base, type: "assistant", uuid: `a${f}-${j}-${out}`, message: { id: `msg_${f}_${j}`, type: "message", role: "assistant", model: j % 7 === 0 ? "claude-opus-4-1-20250805" : "claude-sonnet-4-5-20250929", content, stop_reason: null, usage: usage(out) } });
      const a = JSON.stringify(msg(12, [{ type: "thinking", thinking: "t".repeat(200) }]));
      const b = JSON.stringify(msg(80 + (j % 40), [{ type: "tool_use", id: `tu_${f}_${j}`, name: "Read", input: { file_path: `${cwd}/src/file${j}.ts` } }]));
      const tool = JSON.stringify({ ...base, type: "user", uuid: `u${f}-${j}`, message: { role: "user", content: [{ type: "tool_result", tool_use_id: `tu_${f}_${j}`, content: "x".repeat(1500 + (j % 13) * 100) }] }, toolUseResult: { type: "text" } });
      lines.push(a, b, tool);
      responses.push(a, b);
      if (j % 25 === 24) lines.push(JSON.stringify({ ...base, type: "system", subtype: "turn_duration", durationMs: 20_000 + (j % 9) * 5_000 }));
      size += a.length + b.length + tool.length + 3;
    }
    writeFileSync(join(project, `${session}.jsonl`), lines.join("\n") + "\n");
    previous = responses;
  }
  return dir;
}
