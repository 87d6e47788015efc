/** The trace view filters an agent's output with the one terminal sanitiser (`term/sanitize.ts`). */
export { TerminalFilter as AnsiSanitizer } from "../term/sanitize.js";
