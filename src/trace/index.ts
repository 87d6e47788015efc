export { resolveStdTarget, parseLsof, type StdTarget, type ResolveResult, type ResolveOptions } from "./resolve.js";
export { AnsiSanitizer } from "./ansi.js";
export { ChunkRing } from "./ring.js";
export { followFile, type FollowEvent, type FollowOptions } from "./follow.js";
export { runTraceSession, newestUtf8, RING_BYTES, RENDER_BYTES, MAX_REPAINTS_PER_SEC, type TraceStats } from "./session.js";
