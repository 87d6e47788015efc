/**
 * A streaming filter for terminal output from an untrusted process: colours and text
 * styles (SGR, `ESC [ … m`) pass; every other control sequence — cursor movement, screen
 * clearing, OSC (window titles, clipboard writes, hyperlinks), DCS, SOS/PM/APC, C1
 * controls and C0 controls other than newline and tab — is removed, so the traced agent
 * cannot take over the viewer's terminal. A lone carriage return becomes a newline, so
 * text cannot be hidden by overwriting a line.
 *
 * Written by hand: the well-known packages strip every escape sequence (colours included)
 * or none, and none keeps state across chunks, which a live tail needs because a sequence
 * can be split between two reads.
 */
type State = "text" | "esc" | "csi" | "string" | "string_esc" | "cr";

/** Longest escape sequence we keep buffering; anything longer is dropped (bounded memory). */
const MAX_SEQUENCE = 256;

export class AnsiSanitizer {
  private state: State = "text";
  private seq = "";

  /** Filter the next piece of decoded text. */
  push(text: string): string {
    let out = "";
    for (let i = 0; i < text.length; i++) {
      const ch = text[i]!;
      const code = ch.charCodeAt(0);
      if (this.state === "cr") {
        this.state = "text";
        out += "\n";
        if (ch === "\n") continue;
      }
      switch (this.state as Exclude<State, "cr">) {
        case "text":
          if (ch === "\x1b") {
            this.state = "esc";
            this.seq = ch;
          } else if (ch === "\r") {
            this.state = "cr";
          } else if (code === 0x9b) {
            this.state = "csi";
            this.seq = "\x1b[";
          } else if (code === 0x90 || code === 0x9d || code === 0x98 || code === 0x9e || code === 0x9f) {
            this.state = "string";
          } else if (code < 0x20 && ch !== "\n" && ch !== "\t") {
            // other C0 controls (BEL, BS, …) are dropped
          } else if (code === 0x7f || (code >= 0x80 && code < 0xa0)) {
            // DEL and C1 controls
          } else {
            out += ch;
          }
          break;
        case "esc":
          if (ch === "[") {
            this.state = "csi";
            this.seq += ch;
          } else if (ch === "]" || ch === "P" || ch === "X" || ch === "^" || ch === "_") {
            this.state = "string";
          } else if (code >= 0x20 && code <= 0x2f) {
            // intermediate bytes of a two-character sequence (charset selection …): keep waiting
            this.seq += ch;
            if (this.seq.length > MAX_SEQUENCE) this.state = "text";
          } else {
            this.state = "text"; // a complete ESC sequence (ESC c, ESC 7, …): dropped
          }
          break;
        case "csi":
          this.seq += ch;
          if (code >= 0x40 && code <= 0x7e) {
            if (ch === "m" && /^\x1b\[[0-9;:]*m$/.test(this.seq)) out += this.seq;
            this.state = "text";
          } else if (this.seq.length > MAX_SEQUENCE || code < 0x20) {
            this.state = "text";
          }
          break;
        case "string":
          // OSC/DCS/SOS/PM/APC body: ends at BEL or ST (ESC \ or 0x9c)
          if (ch === "\x07" || code === 0x9c) this.state = "text";
          else if (ch === "\x1b") this.state = "string_esc";
          break;
        case "string_esc":
          this.state = ch === "\\" ? "text" : "string";
          break;
      }
    }
    return out;
  }

  /** Text held back at the end of a stream (a pending carriage return). */
  flush(): string {
    const pending = this.state === "cr" ? "\n" : "";
    this.state = "text";
    this.seq = "";
    return pending;
  }
}
