import { randomBytes, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { hostname, networkInterfaces } from "node:os";
import { TOKEN_HEADER } from "./protocol.js";

/**
 * The dashboard's security model, as for any local web UI (notebook servers, local admin pages):
 * - it listens on loopback unless told otherwise;
 * - a random token, printed in the URL at start, is required on every request (query
 *   `?token=` for the page, its assets and its event stream; the `x-opensre-token` header for
 *   actions), compared in constant time;
 * - the `Host` header must name this server (a DNS-rebinding page on another name is refused
 *   before anything else), and an `Origin`, when sent, must be this server's own;
 * - no CORS: no `Access-Control-*` header is ever sent and preflights are refused, so a page
 *   of another origin can neither read a response nor send the custom token header;
 * - actions only by POST, with the token in the header and a JSON body;
 * - every response forbids framing, sniffing, referrers and caching, and the page's content
 *   security policy allows only its own scripts and styles.
 */

/** Bytes of randomness in a token (192 bits, 32 characters in base64url). */
export const TOKEN_BYTES = 24;

export function newToken(): string {
  return randomBytes(TOKEN_BYTES).toString("base64url");
}

/** Constant-time comparison of a presented token with ours. */
export function tokenMatches(given: string | null | undefined, token: string): boolean {
  if (typeof given !== "string") return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

const LOOPBACK_NAMES = ["127.0.0.1", "localhost", "[::1]"];
const WILDCARD = new Set(["0.0.0.0", "::", "[::]"]);

export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "");
  return h === "localhost" || h === "::1" || /^127(\.\d{1,3}){3}$/.test(h);
}

/** `[::1]` for an IPv6 literal, the host unchanged otherwise. */
export function urlHost(host: string): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
}

/**
 * The `Host` values this server answers to: the loopback names, the address it was asked to
 * listen on, and, when that is every address (`0.0.0.0`, `::`), this machine's name and
 * addresses. Each with the port.
 */
export function allowedHosts(bindHost: string, port: number): Set<string> {
  const names = new Set<string>(LOOPBACK_NAMES);
  if (WILDCARD.has(bindHost)) {
    names.add(hostname().toLowerCase());
    for (const list of Object.values(networkInterfaces())) for (const i of list ?? []) names.add(urlHost(i.address.toLowerCase()));
  } else names.add(urlHost(bindHost.toLowerCase()));
  return new Set([...names].map((n) => `${n}:${port}`));
}

export interface Refusal {
  status: number;
  message: string;
  /** For 405: the methods the path takes. */
  allow?: string;
}

/** The user-facing words of each refusal (asserted in tests). */
export const REFUSED = {
  host: "forbidden: this dashboard answers only to its own address (Host header refused)",
  origin: "forbidden: request from another site refused (Origin is not this dashboard)",
  crossSite: "forbidden: request from another site refused",
  token: "unauthorized: open the URL printed by `opensre agents web`, with its ?token=",
  actionToken: "unauthorized: actions need the dashboard's token in the x-opensre-token header",
  method: "method not allowed",
  json: "unsupported media type: actions take a JSON body (content-type: application/json)",
} as const;

/** The host part of a request's `Host` header, lower case, or null when absent. */
function hostOf(req: IncomingMessage): string | null {
  const h = req.headers.host;
  return typeof h === "string" && h ? h.toLowerCase() : null;
}

/**
 * Checks that come before routing: the request names this server, comes from this server's
 * own page (or from no page at all: a script with the token), and is not a preflight.
 */
export function checkOrigin(req: IncomingMessage, hosts: ReadonlySet<string>): Refusal | null {
  const host = hostOf(req);
  if (!host || !hosts.has(host)) return { status: 403, message: REFUSED.host };
  const origin = req.headers.origin;
  if (origin !== undefined && !(origin.toLowerCase().startsWith("http://") && hosts.has(origin.toLowerCase().slice("http://".length)))) {
    return { status: 403, message: REFUSED.origin };
  }
  if (req.headers["sec-fetch-site"] === "cross-site") return { status: 403, message: REFUSED.crossSite };
  return null;
}

/** The token of a read (query `token`, or the header). */
export function checkReadToken(req: IncomingMessage, url: URL, token: string): Refusal | null {
  const given = url.searchParams.get("token") ?? headerToken(req);
  return tokenMatches(given, token) ? null : { status: 401, message: REFUSED.token };
}

/** An action: the token in the header (never the URL) and a JSON body. */
export function checkActionToken(req: IncomingMessage, token: string): Refusal | null {
  if (!tokenMatches(headerToken(req), token)) return { status: 401, message: REFUSED.actionToken };
  const type = String(req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
  if (type !== "application/json") return { status: 415, message: REFUSED.json };
  return null;
}

function headerToken(req: IncomingMessage): string | null {
  const v = req.headers[TOKEN_HEADER];
  return typeof v === "string" ? v : null;
}

/** The page's content security policy: its own scripts, styles and connections only. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

/** Headers on every response. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy": CONTENT_SECURITY_POLICY,
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
};
