import { closeSync, mkdirSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";

/**
 * A Claude Code transcript tree shaped like a real one, for the history benchmark: sessions
 * in ~30 projects, each turn a prompt, several steps of (thinking line, tool-use line of the
 * same response, tool output of a few KB to tens of KB), a final answer and the turn's
 * duration; sub-agent transcripts; and every 12th session resumed into a new file that
 * copies its conversation (the responses must count once). Deterministic.
 */
export interface Tree {
  dir: string;
  files: string[];
  bytes: number;
}

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const MODELS = ["claude-sonnet-4-5-20250929", "claude-opus-4-1-20250805", "claude-haiku-4-5-20251001"];

export function writeTree(root: string, totalBytes: number, start = Date.now() - 60 * 86_400_000): Tree {
  const dir = join(root, "claude");
  const rand = rng(42);
  const files: string[] = [];
  let bytes = 0;
  let s = 0;
  let t = start;
  const span = Date.now() - 3_600_000 - start;
  while (bytes < totalBytes) {
    const project = `/home/dev/work/project-${s % 31}`;
    const pdir = join(dir, "projects", project.replace(/[^A-Za-z0-9]/g, "-"));
    mkdirSync(pdir, { recursive: true });
    const session = `${(0x10000000 + s).toString(16)}-0000-4000-8000-${String(s).padStart(12, "0")}`;
    const target = Math.min(totalBytes - bytes, 200_000 + Math.floor(rand() * 4_000_000));
    const path = join(pdir, `${session}.jsonl`);
    const fd = openSync(path, "w");
    let size = 0;
    let buf = "";
    const lines: string[] = [];
    const emit = (o: unknown) => {
      const l = JSON.stringify(o) + "\n";
      buf += l;
      size += l.length;
      if (s % 12 === 11) lines.push(l);
      if (buf.length > 1 << 20) {
        writeSync(fd, buf);
        buf = "";
      }
    };
    let parent: string | null = null;
    let turn = 0;
    t = start + (span * bytes) / totalBytes;
    const common = () => ({ parentUuid: parent, isSidechain: false, userType: "external", cwd: project, sessionId: session, version: "2.1.197", gitBranch: "main" });
    while (size < target) {
      const uuid = `p-${s}-${turn}`;
      emit({ ...common(), type: "user", message: { role: "user", content: "please " + "fix the flaky test in the auth module and explain why ".repeat(1 + Math.floor(rand() * 8)) }, uuid, timestamp: new Date(t).toISOString() });
      parent = uuid;
      const model = MODELS[Math.floor(rand() * 10) % 3 === 0 ? 1 : rand() < 0.15 ? 2 : 0]!;
      const steps = 2 + Math.floor(rand() * 7);
      const turnStart = t;
      for (let k = 0; k < steps; k++) {
        t += 2_000 + Math.floor(rand() * 15_000);
        const id = `msg_${s}_${turn}_${k}`;
        const req = `req_${s}_${turn}_${k}`;
        const usage = (out: number) => ({
          input_tokens: 3 + Math.floor(rand() * 20),
          cache_creation_input_tokens: Math.floor(rand() * 3000),
          cache_read_input_tokens: 10_000 + Math.floor(rand() * 80_000),
          cache_creation: null as unknown,
          output_tokens: out,
          service_tier: "standard",
        });
        const u1 = usage(1 + Math.floor(rand() * 50));
        emit({ ...common(), type: "assistant", message: { id, type: "message", role: "assistant", model, content: [{ type: "thinking", thinking: "Let me look at ".repeat(20 + Math.floor(rand() * 80)), signature: "sig".repeat(60) }], stop_reason: null, stop_sequence: null, usage: u1 }, requestId: req, uuid: `a-${id}-1`, timestamp: new Date(t).toISOString() });
        const u2 = { ...u1, output_tokens: u1.output_tokens + 20 + Math.floor(rand() * 400) };
        const tool = `toolu_${s}_${turn}_${k}`;
        emit({ ...common(), type: "assistant", message: { id, type: "message", role: "assistant", model, content: [{ type: "tool_use", id: tool, name: rand() < 0.3 ? "Edit" : "Read", input: { file_path: `${project}/src/module${k}.ts`, old_string: "a".repeat(Math.floor(rand() * 300)), new_string: "b".repeat(Math.floor(rand() * 300)) } }], stop_reason: "tool_use", stop_sequence: null, usage: u2 }, requestId: req, uuid: `a-${id}-2`, timestamp: new Date(t + 300).toISOString() });
        t += 500 + Math.floor(rand() * 3000);
        const out = "export function handler(req, res) {\n  return res.send(200);\n}\n".repeat(20 + Math.floor(rand() * 600));
        emit({ ...common(), type: "user", message: { role: "user", content: [{ tool_use_id: tool, type: "tool_result", content: out }] }, uuid: `r-${id}`, timestamp: new Date(t).toISOString(), toolUseResult: { type: "text", file: { filePath: `${project}/src/module${k}.ts`, content: out.slice(0, 2000), numLines: 60, startLine: 1, totalLines: 60 } } });
      }
      const id = `msg_${s}_${turn}_end`;
      t += 1_000 + Math.floor(rand() * 8_000);
      emit({ ...common(), type: "assistant", message: { id, type: "message", role: "assistant", model, content: [{ type: "text", text: "Fixed: the token cache raced with the clock. ".repeat(5 + Math.floor(rand() * 30)) }], stop_reason: "end_turn", stop_sequence: null, usage: { input_tokens: 5, cache_creation_input_tokens: 500, cache_read_input_tokens: 50_000, output_tokens: 200 + Math.floor(rand() * 600), service_tier: "standard" } }, requestId: `req_${s}_${turn}_end`, uuid: `a-${id}`, timestamp: new Date(t).toISOString() });
      emit({ ...common(), type: "system", subtype: "turn_duration", durationMs: t - turnStart, isMeta: false, uuid: `d-${s}-${turn}`, timestamp: new Date(t + 10).toISOString() });
      turn++;
      t += 30_000 + Math.floor(rand() * 600_000);
    }
    writeSync(fd, buf);
    closeSync(fd);
    files.push(path);
    bytes += size;
    if (s % 12 === 11 && bytes < totalBytes) {
      // resumed: a new session file that starts with a copy of the conversation
      const resumed = join(pdir, `${(0x20000000 + s).toString(16)}-0000-4000-8000-${String(s).padStart(12, "0")}.jsonl`);
      const text = lines.join("");
      const rfd = openSync(resumed, "w");
      writeSync(rfd, text);
      closeSync(rfd);
      files.push(resumed);
      bytes += text.length;
    }
    if (s % 9 === 4 && bytes < totalBytes) {
      // a sub-agent transcript of this session
      const sub = join(pdir, session, "subagents");
      mkdirSync(sub, { recursive: true });
      const p = join(sub, `agent-${s}.jsonl`);
      let text = "";
      for (let k = 0; k < 40; k++) {
        const id = `msg_sub_${s}_${k}`;
        text += JSON.stringify({ parentUuid: null, isSidechain: true, userType: "external", cwd: project, sessionId: session, version: "2.1.197", agentId: `agent-${s}`, type: "assistant", message: { id, type: "message", role: "assistant", model: MODELS[2], content: [{ type: "text", text: "searching ".repeat(30) }], stop_reason: "end_turn", usage: { input_tokens: 10, cache_creation_input_tokens: 100, cache_read_input_tokens: 5000, output_tokens: 90 } }, requestId: `req_sub_${s}_${k}`, uuid: `sa-${s}-${k}`, timestamp: new Date(t - 100_000 + k * 1000).toISOString() }) + "\n";
        text += JSON.stringify({ parentUuid: null, isSidechain: true, userType: "external", cwd: project, sessionId: session, type: "user", message: { role: "user", content: [{ tool_use_id: `x${k}`, type: "tool_result", content: "match ".repeat(400) }] }, uuid: `su-${s}-${k}`, timestamp: new Date(t - 99_000 + k * 1000).toISOString() }) + "\n";
      }
      const sfd = openSync(p, "w");
      writeSync(sfd, text);
      closeSync(sfd);
      files.push(p);
      bytes += text.length;
    }
    s++;
  }
  return { dir, files, bytes };
}
