/**
 * The one sanitiser for text that came from outside (agents, transcripts, files, the bus,
 * the process table) on its way to a terminal.
 *
 * - `escapeText` makes a field visible and inert: every control character becomes a
 *   visible escape (`\x1b`, `\x9b`, `\u202e`), so a name, path or summary can neither drive
 *   the terminal nor reorder or hide the text around it; invisible characters that hide text
 *   (zero-width space, word joiner, BOM, tag characters) are shown escaped too.
 * - `TerminalFilter` is the streaming filter for whole output (a traced agent's stdout, and
 *   every byte the commands write, see `output.ts`): colours and text styles (SGR) pass, except
 *   conceal; every other control sequence — cursor movement, screen clearing, OSC (window
 *   titles, clipboard writes, hyperlinks), DCS, SOS/PM/APC, C1 controls, C0 controls other than
 *   newline and tab — is removed; bidirectional overrides and isolates are shown escaped; a lone
 *   carriage return becomes a newline, so text cannot be hidden by overwriting a line.
 * - `safeJson` is `JSON.stringify` with the characters JSON leaves raw (C1, bidi controls,
 *   line separators) written as `\uXXXX`: the same data, inert on a terminal.
 *
 * Written by hand: the well-known packages strip every escape sequence (colours included) or
 * none, none keeps state across chunks (a sequence can be split between two reads), and none
 * bounds an unterminated string sequence.
 */

/**
 * Characters shown escaped rather than obeyed: bidirectional formatting (embeddings,
 * overrides, isolates, marks: Trojan Source), line and paragraph separators, and invisible
 * characters that hide text (zero-width space, word joiner and invisible operators, BOM,
 * interlinear annotations). Joiners used inside emoji and scripts (U+200C, U+200D) stay.
 */
function isBidi(code: number): boolean {
  return (
    code === 0x061c ||
    code === 0x200b ||
    code === 0x200e ||
    code === 0x200f ||
    (code >= 0x2028 && code <= 0x202e) ||
    (code >= 0x2060 && code <= 0x2064) ||
    (code >= 0x2066 && code <= 0x2069) ||
    code === 0xfeff ||
    (code >= 0xfff9 && code <= 0xfffb)
  );
}

/**
 * Unicode tag characters (U+E0000–U+E007F) are invisible copies of ASCII ("ASCII smuggling":
 * text a person does not see but a model reads). In UTF-16: the high surrogate U+DB40 followed
 * by a low surrogate U+DC00–U+DC7F.
 */
function isTagPair(high: number, low: number): boolean {
  return high === 0xdb40 && low >= 0xdc00 && low <= 0xdc7f;
}

function tagEscape(low: number): string {
  return `\\u{e00${(low - 0xdc00).toString(16).padStart(2, "0")}}`;
}

function isPrintable(code: number): boolean {
  return code >= 0x20 && code !== 0x7f && !(code >= 0x80 && code < 0xa0) && !isBidi(code);
}

function hex2(code: number): string {
  return code.toString(16).padStart(2, "0");
}

function uEscape(code: number): string {
  return `\\u${code.toString(16).padStart(4, "0")}`;
}

/** True for a character that `escapeText` rewrites. */
function needsEscape(code: number): boolean {
  return !isPrintable(code);
}

// eslint-disable-next-line no-control-regex
const ESCAPE_RE = /[\x00-\x1f\x7f-\x9f\u061c\u200b\u200e\u200f\u2028-\u202e\u2060-\u2064\u2066-\u2069\ufeff\ufff9-\ufffb]|\udb40[\udc00-\udc7f]/g;
// eslint-disable-next-line no-control-regex
const ESCAPE_RE_MULTILINE = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b\u200e\u200f\u2028-\u202e\u2060-\u2064\u2066-\u2069\ufeff\ufff9-\ufffb]|\udb40[\udc00-\udc7f]/g;

export interface EscapeOptions {
  /** Keep newlines and tabs (for multi-line text such as evidence); default: escape them too. */
  multiline?: boolean;
}

/**
 * A field from outside, made visible and inert for a terminal: control characters become
 * `\x1b`-style escapes, bidirectional controls and line separators `\u202e`-style escapes.
 * Printable text, including every other Unicode character, is unchanged.
 */
export function escapeText(text: string, opts: EscapeOptions = {}): string {
  const re = opts.multiline ? ESCAPE_RE_MULTILINE : ESCAPE_RE;
  re.lastIndex = 0;
  if (!re.test(text)) return text;
  re.lastIndex = 0;
  return text.replace(re, (c) => {
    const code = c.charCodeAt(0);
    if (c.length === 2) return tagEscape(c.charCodeAt(1));
    return code < 0x100 ? `\\x${hex2(code)}` : uEscape(code);
  });
}

/** True when `text` holds nothing `escapeText` would change. */
export function isInert(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (needsEscape(code) || isTagPair(code, text.charCodeAt(i + 1))) return false;
  }
  return true;
}

const U_ESCAPE_JSON = /[\u007f-\u009f\u061c\u200b\u200e\u200f\u2028-\u202e\u2060-\u2064\u2066-\u2069\ufeff\ufff9-\ufffb]|\udb40[\udc00-\udc7f]/g;

/** `JSON.stringify` whose output holds no character a terminal acts on or hides; the data is unchanged. */
export function safeJson(value: unknown, space?: number): string {
  const s = JSON.stringify(value, null, space);
  if (s === undefined) return "null";
  return s.replace(U_ESCAPE_JSON, (c) => (c.length === 2 ? uEscape(c.charCodeAt(0)) + uEscape(c.charCodeAt(1)) : uEscape(c.charCodeAt(0))));
}

type State = "text" | "esc" | "csi" | "string" | "string_esc" | "cr";

/** Longest CSI or ESC sequence we buffer; anything longer is dropped (bounded memory). */
const MAX_SEQUENCE = 256;
/**
 * Longest OSC/DCS/APC body we wait through for its terminator. A body that runs past this,
 * or past a newline, ends there: an unterminated sequence cannot swallow the output after it.
 */
const MAX_STRING = 4096;

/** SGR parameters that hide text (8: conceal). Removed; every other style passes. */
const HIDING_SGR = new Set([8]);

/** Rebuild an SGR sequence without the parameters that hide text; "" when nothing is left. */
function filterSgr(seq: string): string {
  const body = seq.slice(2, -1);
  if (body === "") return seq; // ESC [ m: reset
  const params = body.split(";");
  const kept: string[] = [];
  for (let i = 0; i < params.length; i++) {
    const p = params[i]!;
    const n = p === "" ? 0 : Number.parseInt(p, 10);
    if ((n === 38 || n === 48 || n === 58) && !p.includes(":")) {
      // extended colour: 38;5;N or 38;2;R;G;B is one unit
      const mode = params[i + 1];
      const take = mode === "5" ? 2 : mode === "2" ? 4 : 0;
      kept.push(params.slice(i, i + 1 + take).join(";"));
      i += take;
      continue;
    }
    if (!p.includes(":") && HIDING_SGR.has(n)) continue;
    kept.push(p);
  }
  return kept.length ? `\x1b[${kept.join(";")}m` : "";
}

export interface FilterOptions {
  /** A lone carriage return becomes a newline (default true); false drops it. */
  crToNewline?: boolean;
}

/**
 * A streaming filter for terminal output from an untrusted source (see the module comment).
 * State carries across `push` calls, so a sequence split between two chunks is still caught.
 */
export class TerminalFilter {
  private state: State = "text";
  private seq = "";
  private stringLen = 0;
  private readonly crToNewline: boolean;

  constructor(opts: FilterOptions = {}) {
    this.crToNewline = opts.crToNewline ?? true;
  }

  /** Filter the next piece of decoded text. */
  push(text: string): string {
    let out = "";
    let runStart = -1;
    for (let i = 0; i < text.length; i++) {
      const ch = text[i]!;
      const code = ch.charCodeAt(0);
      if (this.state === "cr") {
        this.state = "text";
        if (this.crToNewline) out += "\n";
        if (ch === "\n") {
          if (!this.crToNewline) out += "\n";
          continue;
        }
      }
      if (this.state === "text") {
        // fast path: a run of printable characters is copied in one slice
        if (isPrintable(code) && !isTagPair(code, text.charCodeAt(i + 1))) {
          if (runStart < 0) runStart = i;
          continue;
        }
        if (runStart >= 0) {
          out += text.slice(runStart, i);
          runStart = -1;
        }
      }
      switch (this.state as Exclude<State, "cr">) {
        case "text":
          if (ch === "\x1b") {
            this.state = "esc";
            this.seq = ch;
          } else if (ch === "\r") {
            this.state = "cr";
          } else if (ch === "\n" || ch === "\t") {
            out += ch;
          } else if (code === 0x9b) {
            this.state = "csi";
            this.seq = "\x1b[";
          } else if (code === 0x90 || code === 0x9d || code === 0x98 || code === 0x9e || code === 0x9f) {
            this.state = "string";
            this.stringLen = 0;
          } else if (isBidi(code)) {
            out += uEscape(code); // bidirectional control or invisible character: shown, not obeyed
          } else if (isTagPair(code, text.charCodeAt(i + 1))) {
            out += tagEscape(text.charCodeAt(++i)); // invisible tag character: shown
          }
          // other C0 controls (BEL, BS, …), DEL and C1 controls are dropped
          break;
        case "esc":
          if (ch === "[") {
            this.state = "csi";
            this.seq += ch;
          } else if (ch === "]" || ch === "P" || ch === "X" || ch === "^" || ch === "_") {
            this.state = "string";
            this.stringLen = 0;
          } else if (code >= 0x20 && code <= 0x2f) {
            // intermediate bytes of a two-character sequence (charset selection …): keep waiting
            this.seq += ch;
            if (this.seq.length > MAX_SEQUENCE) this.state = "text";
          } else if (ch === "\n") {
            this.state = "text";
            out += ch;
          } else {
            this.state = "text"; // a complete ESC sequence (ESC c, ESC 7, …): dropped
          }
          break;
        case "csi":
          this.seq += ch;
          if (code >= 0x40 && code <= 0x7e) {
            if (ch === "m" && /^\x1b\[[0-9;:]*m$/.test(this.seq)) out += filterSgr(this.seq);
            this.state = "text";
          } else if (ch === "\n") {
            this.state = "text";
            out += ch;
          } else if (this.seq.length > MAX_SEQUENCE || code < 0x20) {
            this.state = "text";
          }
          break;
        case "string":
          // OSC/DCS/SOS/PM/APC body: ends at BEL or ST (ESC \ or 0x9c), or at a newline or the cap
          if (ch === "\x07" || code === 0x9c) this.state = "text";
          else if (ch === "\x1b") this.state = "string_esc";
          else if (ch === "\n") {
            this.state = "text";
            out += ch;
          } else if (++this.stringLen > MAX_STRING) this.state = "text";
          break;
        case "string_esc":
          this.state = ch === "\\" ? "text" : "string";
          break;
      }
    }
    if (runStart >= 0) out += text.slice(runStart);
    return out;
  }

  /** Text held back at the end of a stream (a pending carriage return); resets the state. */
  flush(): string {
    const pending = this.state === "cr" && this.crToNewline ? "\n" : "";
    this.state = "text";
    this.seq = "";
    return pending;
  }
}

/** Filter one complete piece of text (see `TerminalFilter`). */
export function sanitizeTerminal(text: string): string {
  const f = new TerminalFilter();
  return f.push(text) + f.flush();
}
