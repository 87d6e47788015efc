import type { Interface } from "node:readline";

interface Key {
  name?: string;
  ctrl?: boolean;
  meta?: boolean;
  sequence?: string;
}

type KeyListener = (s: string | undefined, key: Key | undefined) => void;

/** The parts of readline's Interface that drawing a search needs (all public properties). */
interface Editable {
  line: string;
  cursor: number;
  history: string[];
  setPrompt(p: string): void;
  prompt(preserveCursor?: boolean): void;
}

/**
 * Ctrl+R reverse history search, as in bash and zsh, for a readline interface on a terminal
 * (node's readline has none). Typing narrows the search to the newest line containing the text;
 * Ctrl+R again goes to older matches; Enter runs the match; Esc or Ctrl+G restores the line;
 * any other key (arrows, Ctrl+A/E, Tab) keeps the match for editing and acts on it.
 *
 * readline reads keys through one `keypress` listener on its input; it is wrapped so keys go to
 * the search while it is active and to readline otherwise. Returns a function that unwraps it.
 */
export function installHistorySearch(rl: Interface, input: NodeJS.ReadableStream, prompt: string): () => void {
  const listeners = input.listeners("keypress") as KeyListener[];
  const readlineKeys = listeners[listeners.length - 1];
  if (!readlineKeys) return () => undefined;
  const ed = rl as unknown as Editable;
  let active = false;
  let query = "";
  let index = -1;
  let saved = { line: "", cursor: 0 };
  let failed = false;

  const draw = () => {
    const match = index >= 0 ? (ed.history[index] ?? "") : ed.line;
    ed.setPrompt(`(${failed ? "failed " : ""}reverse-i-search)'${query}': `);
    ed.line = match;
    const at = query ? match.indexOf(query) : -1;
    ed.cursor = at >= 0 ? at : match.length;
    ed.prompt(true);
  };
  /** The newest history line at or after `from` containing the query. */
  const find = (from: number) => {
    if (query === "") return;
    for (let i = Math.max(from, 0); i < ed.history.length; i++) {
      if (ed.history[i]!.includes(query)) {
        index = i;
        failed = false;
        return;
      }
    }
    failed = true;
  };
  const leave = (restore: boolean) => {
    active = false;
    ed.setPrompt(prompt);
    if (restore) {
      ed.line = saved.line;
      ed.cursor = saved.cursor;
    } else ed.cursor = ed.line.length;
    ed.prompt(true);
  };

  const onKey: KeyListener = (s, key) => {
    const k = key ?? {};
    if (!active) {
      if (k.ctrl && k.name === "r") {
        active = true;
        query = "";
        index = -1;
        failed = false;
        saved = { line: ed.line, cursor: ed.cursor };
        draw();
        return;
      }
      readlineKeys.call(rl, s, key);
      return;
    }
    if (k.ctrl && k.name === "r") {
      find(index + 1);
      draw();
    } else if (k.name === "backspace") {
      query = query.slice(0, -1);
      index = -1;
      failed = false;
      find(0);
      draw();
    } else if (k.name === "escape" || (k.ctrl && k.name === "g")) {
      leave(true);
    } else if (k.name === "return" || k.name === "enter") {
      leave(false);
      readlineKeys.call(rl, s, key);
    } else if (k.ctrl && k.name === "c") {
      leave(true);
      readlineKeys.call(rl, s, key);
    } else if (s && !k.ctrl && !k.meta && s.length >= 1 && !/[\x00-\x1f\x7f]/.test(s)) {
      query += s;
      find(index < 0 ? 0 : index);
      draw();
    } else {
      leave(false);
      readlineKeys.call(rl, s, key);
    }
  };
  input.removeListener("keypress", readlineKeys);
  input.on("keypress", onKey);
  return () => {
    input.removeListener("keypress", onKey);
  };
}
