/**
 * Keys of a terminal in raw mode, decoded from the characters `ctx.onKey` hands over one
 * by one: arrows and paging keys arrive as escape sequences (`ESC [ A`), a lone ESC is the
 * Escape key. Ctrl+C never gets here: it aborts the command's signal.
 */
export type KeyName = "up" | "down" | "left" | "right" | "pageup" | "pagedown" | "home" | "end" | "enter" | "escape" | "backspace" | "tab" | "delete";
export type Key = { name: KeyName } | { name: "char"; char: string };

/**
 * A lone ESC is the Escape key once this long passes without the rest of a sequence. The
 * bytes of one sequence arrive together from a terminal; 25 ms keeps Escape well inside the
 * 50 ms answer time.
 */
export const ESC_TIMEOUT_MS = 25;
/** Longest escape sequence we wait for; anything longer is not a key we know, and is dropped. */
const MAX_SEQUENCE = 16;

const CSI_FINAL: Record<string, KeyName> = { A: "up", B: "down", C: "right", D: "left", H: "home", F: "end" };
const CSI_TILDE: Record<string, KeyName> = { "1": "home", "7": "home", "4": "end", "8": "end", "3": "delete", "5": "pageup", "6": "pagedown" };

export class KeyDecoder {
  private seq = "";
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly emit: (key: Key) => void,
    private readonly escTimeoutMs = ESC_TIMEOUT_MS,
  ) {}

  push(ch: string): void {
    if (this.seq !== "") {
      this.continueSequence(ch);
      return;
    }
    if (ch === "\x1b") {
      this.seq = ch;
      this.arm();
      return;
    }
    this.plain(ch);
  }

  private plain(ch: string): void {
    if (ch === "\r" || ch === "\n") this.emit({ name: "enter" });
    else if (ch === "\x7f" || ch === "\b") this.emit({ name: "backspace" });
    else if (ch === "\t") this.emit({ name: "tab" });
    else if (ch.codePointAt(0)! >= 0x20) this.emit({ name: "char", char: ch });
    // other control characters are not keys of the view
  }

  private continueSequence(ch: string): void {
    if (this.seq === "\x1b") {
      if (ch === "[" || ch === "O") {
        this.seq += ch;
        this.arm();
        return;
      }
      // ESC then something else: Escape, then that key (Alt+key is not used)
      this.reset();
      this.emit({ name: "escape" });
      this.push(ch);
      return;
    }
    // past the cap, the rest of the sequence is swallowed (up to its final byte), not typed
    if (this.seq.length <= MAX_SEQUENCE) this.seq += ch;
    const code = ch.charCodeAt(0);
    if (code >= 0x40 && code <= 0x7e) {
      const overlong = this.seq.length > MAX_SEQUENCE;
      const body = this.seq.slice(2, -1);
      this.reset();
      if (overlong) return;
      if (ch === "~") {
        const name = CSI_TILDE[body.split(";")[0] ?? ""];
        if (name) this.emit({ name });
      } else {
        const name = CSI_FINAL[ch];
        if (name) this.emit({ name });
      }
      return;
    }
    this.arm();
  }

  private arm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      const lone = this.seq === "\x1b";
      this.reset();
      if (lone) this.emit({ name: "escape" });
    }, this.escTimeoutMs);
  }

  private reset(): void {
    this.seq = "";
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  dispose(): void {
    this.reset();
  }
}
