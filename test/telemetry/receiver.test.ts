import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { createServer, request } from "node:http";
import { connect, type AddressInfo, type Socket } from "node:net";
import { join } from "node:path";
import { OTLPLogExporter as ProtoLogExporter } from "@opentelemetry/exporter-logs-otlp-proto";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { LoggerProvider, SimpleLogRecordProcessor } from "@opentelemetry/sdk-logs";
import { createRequire } from "node:module";
import { tempDir } from "../helpers/env.js";
import { guardConnections, MAX_CONNECTIONS } from "../../src/telemetry/connections.js";
import type { TelemetryEvent } from "../../src/telemetry/events.js";
import { OtlpReceiver, peerUid, receiverToken, TOKEN_FILE } from "../../src/telemetry/receiver.js";

const require = createRequire(import.meta.url);

function post(port: number, path: string, body: string | Buffer, headers: Record<string, string> = { "content-type": "application/json" }): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, method: "POST", headers }, (res) => {
      let b = "";
      res.setEncoding("utf8").on("data", (d: string) => (b += d)).on("end", () => resolve({ status: res.statusCode!, body: b }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

function claudeRequest(opts: { session?: string; pid?: number; service?: string; timeNs?: string; model?: string } = {}): string {
  const attributes = [
    { key: "event.name", value: { stringValue: "claude_code.api_request" } },
    { key: "session.id", value: { stringValue: opts.session ?? "s-1" } },
    { key: "model", value: { stringValue: opts.model ?? "claude-sonnet-4-5-20250929" } },
    { key: "duration_ms", value: { intValue: "1200" } },
    { key: "input_tokens", value: { intValue: "10" } },
    { key: "output_tokens", value: { intValue: "5" } },
  ];
  const resource = [{ key: "service.name", value: { stringValue: opts.service ?? "claude-code" } }, ...(opts.pid ? [{ key: "process.pid", value: { intValue: String(opts.pid) } }] : [])];
  return JSON.stringify({ resourceLogs: [{ resource: { attributes: resource }, scopeLogs: [{ logRecords: [{ timeUnixNano: opts.timeNs ?? `${Date.now()}000000`, body: { stringValue: "claude_code.api_request" }, attributes }] }] }] });
}

async function receiver(t: { after: (f: () => void | Promise<void>) => void }, extra: Partial<ConstructorParameters<typeof OtlpReceiver>[0]> = {}) {
  const events: TelemetryEvent[] = [];
  const r = new OtlpReceiver({ port: 0, onEvents: (e) => events.push(...e), ...extra });
  const port = await r.start();
  t.after(() => r.close());
  return { r, port, events };
}

test("the receiver takes only this user's agents: a client of another uid gets 401 unless it presents the home's token; events never name another user's pid", async (t) => {
  if (process.getuid?.() !== 0) return t.skip("needs root to run a client as another user (CI runs as root)");
  const dir = tempDir();
  t.after(dir.cleanup);
  const token = receiverToken(dir.path);
  assert.match(token, /^[0-9a-f]{48}$/);
  assert.equal(receiverToken(dir.path), token, "the token is kept");
  assert.ok(readdirSync(dir.path).includes(TOKEN_FILE));
  assert.equal(statSync(join(dir.path, TOKEN_FILE)).mode & 0o777, 0o600);
  const { r, port, events } = await receiver(t, { token });
  const asNobody = (headers: Record<string, string>) => {
    const script = `const r=require("http").request({host:"127.0.0.1",port:${port},path:"/v1/logs",method:"POST",headers:${JSON.stringify({ "content-type": "application/json", ...headers })}},res=>{let b="";res.on("data",d=>b+=d).on("end",()=>{process.stdout.write(res.statusCode+" "+b)})});r.end(${JSON.stringify(claudeRequest({ session: "from-nobody" }))});`;
    return new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      const c = spawn(process.execPath, ["-e", script], { uid: 65534, gid: 65534, cwd: "/" });
      let stdout = "";
      let stderr = "";
      c.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
      c.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
      c.on("close", (status) => resolve({ status, stdout, stderr }));
    });
  };
  const refused = await asNobody({});
  assert.equal(refused.status, 0, refused.stderr);
  assert.equal(refused.stdout, `401 {"code":401,"message":"only this user's agents may send telemetry: send the token in telemetry-token of the opensre home (OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer%20<token>)"}`);
  assert.equal(events.length, 0);
  assert.equal((await asNobody({ authorization: `Bearer ${token}` })).stdout, "200 {}");
  assert.equal((await asNobody({ authorization: "Bearer 0000" })).stdout.slice(0, 3), "401");
  assert.equal(events.length, 1);
  // an agent of that user sends the token the standard way: the official exporter with OTEL_EXPORTER_OTLP_HEADERS
  const script = [
    `const { OTLPLogExporter } = require(${JSON.stringify(require.resolve("@opentelemetry/exporter-logs-otlp-http"))});`,
    `const { LoggerProvider, SimpleLogRecordProcessor } = require(${JSON.stringify(require.resolve("@opentelemetry/sdk-logs"))});`,
    `const p = new LoggerProvider({ processors: [new SimpleLogRecordProcessor(new OTLPLogExporter())] });`,
    `p.getLogger("claude-code").emit({ body: "claude_code.api_request", attributes: { "event.name": "claude_code.api_request", "session.id": "via-env", model: "claude-sonnet-4-5-20250929", duration_ms: 100, input_tokens: 1, output_tokens: 1 } });`,
    `p.forceFlush().then(() => p.shutdown());`,
  ].join("\n");
  const official = await new Promise<number | null>((resolve) => {
    const c = spawn(process.execPath, ["-e", script], { uid: 65534, gid: 65534, cwd: "/", stdio: "ignore", env: { ...process.env, OTEL_SERVICE_NAME: "claude-code", OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`, OTEL_EXPORTER_OTLP_HEADERS: `Authorization=Bearer%20${token}` } });
    c.on("close", resolve);
  });
  assert.equal(official, 0);
  assert.ok(events.some((x) => x.sessionId === "via-env"), "the official exporter's event arrived with the token from OTEL_EXPORTER_OTLP_HEADERS");
  // our own client is accepted without a token (its socket's owner is our uid)
  assert.equal((await post(port, "/v1/logs", claudeRequest())).status, 200);
  // an event that names a process of another user is kept, but not attributed to that process
  const theirs = spawn("sleep", ["30"], { uid: 65534, gid: 65534, stdio: "ignore" });
  t.after(() => theirs.kill("SIGKILL"));
  await new Promise((res) => setTimeout(res, 100));
  assert.equal((await post(port, "/v1/logs", claudeRequest({ pid: theirs.pid!, session: "claims-their-pid" }))).status, 200);
  const e = events.find((x) => x.sessionId === "claims-their-pid")!;
  assert.equal(e.pid, null);
  assert.equal(r.stats.records.foreign_pid, 1);
  assert.equal((await post(port, "/v1/logs", claudeRequest({ pid: process.pid, session: "our-pid" }))).status, 200);
  assert.equal(events.find((x) => x.sessionId === "our-pid")!.pid, process.pid);
});

test("peerUid reads the owner of the client end of a loopback connection from /proc/net/tcp", async (t) => {
  if (process.platform !== "linux") return t.skip("Linux only (/proc/net/tcp)");
  const server = createServer();
  const seen = new Promise<Socket>((resolve) => server.on("connection", resolve));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const client = connect((server.address() as AddressInfo).port, "127.0.0.1");
  t.after(() => {
    client.destroy();
    server.close();
  });
  const socket = await seen;
  assert.equal(peerUid(socket), process.getuid!());
  assert.equal(peerUid({ remoteAddress: "127.0.0.1", remotePort: 1, localPort: 1 }), null);
});

test(`idle connections are capped at ${MAX_CONNECTIONS} (the longest idle closed first) and timed out; a real agent is still served`, async (t) => {
  const { r, port } = await receiver(t);
  const sockets: Socket[] = [];
  t.after(() => sockets.forEach((s) => s.destroy()));
  for (let i = 0; i < 1100; i++) {
    const s = connect(port, "127.0.0.1");
    s.on("error", () => undefined);
    sockets.push(s);
    if (i % 100 === 99) await new Promise((res) => setTimeout(res, 20));
  }
  await new Promise((res) => setTimeout(res, 300));
  assert.ok(r.stats.connections <= MAX_CONNECTIONS, `${r.stats.connections} open`);
  assert.equal((await post(port, "/v1/logs", claudeRequest())).status, 200);
  const open = () => sockets.filter((s) => !s.destroyed && s.readyState === "open").length;
  for (let i = 0; i < 100 && open() > MAX_CONNECTIONS; i++) await new Promise((res) => setTimeout(res, 50));
  assert.ok(open() <= MAX_CONNECTIONS, `${open()} client sockets still open`);
  // idle timeout, on a listener with a short one
  const server = createServer((_q, s) => s.end());
  const guard = guardConnections(server, 8, 200);
  await new Promise<void>((res) => server.listen(0, "127.0.0.1", () => res()));
  t.after(() => server.close());
  const idle = connect((server.address() as AddressInfo).port, "127.0.0.1");
  const closed = new Promise<number>((res) => {
    const t0 = Date.now();
    idle.on("close", () => res(Date.now() - t0));
  });
  const took = await closed;
  assert.ok(took >= 150 && took < 3000, `closed after ${took} ms`);
  for (let i = 0; i < 50 && guard.open > 0; i++) await new Promise((res) => setTimeout(res, 20));
  assert.equal(guard.open, 0);
});

test("bodies nested thousands deep answer 400 or are read to a bounded depth, never 500; the receiver keeps serving", async (t) => {
  const { port } = await receiver(t);
  const deepArray = "[".repeat(200_000) + "]".repeat(200_000);
  const a = await post(port, "/v1/logs", deepArray);
  assert.equal(a.status, 400, a.body);
  let value = '{"stringValue":"x"}';
  for (let i = 0; i < 20_000; i++) value = `{"kvlistValue":{"values":[{"key":"k","value":${value}}]}}`;
  const body = claudeRequest().replace('{"key":"event.name"', `{"key":"deep","value":${value}},{"key":"event.name"`);
  const b = await post(port, "/v1/logs", body);
  assert.ok(b.status === 200 || b.status === 400, `${b.status} ${b.body.slice(0, 200)}`);
  const notLogs = await post(port, "/v1/logs", JSON.stringify({ resourceLogs: [{ scopeLogs: [{ logRecords: "nope" }] }, 7, null] }));
  assert.equal(notLogs.status, 200);
  assert.equal((await post(port, "/v1/logs", claudeRequest())).status, 200);
});

test("absurd timestamps are refused and counted; a foreign service.name with our agents' event names is used; POST / is read as older Gemini CLI versions send it", async (t) => {
  const { r, port, events } = await receiver(t);
  const tenYears = `${Date.now() + 10 * 365 * 86_400_000}000000`;
  assert.equal((await post(port, "/v1/logs", claudeRequest({ timeNs: tenYears, session: "future" }))).status, 200);
  assert.equal((await post(port, "/v1/logs", claudeRequest({ timeNs: "1000000", session: "1970" }))).status, 200);
  assert.equal(events.length, 0);
  assert.equal(r.stats.records.bad_timestamp, 2);
  assert.equal((await post(port, "/v1/logs", claudeRequest({ service: "acme-wrapper", session: "wrapped" }))).status, 200);
  assert.equal(events.at(-1)!.provider, "claude-code");
  // the official protobuf exporter pointed at the bare endpoint (no /v1/logs)
  const provider = new LoggerProvider({ resource: resourceFromAttributes({ "service.name": "gemini-cli" }), processors: [new SimpleLogRecordProcessor(new ProtoLogExporter({ url: `http://127.0.0.1:${port}/` }))] });
  provider.getLogger("gemini-cli").emit({ body: "API response", attributes: { "event.name": "gemini_cli.api_response", "session.id": "old-gemini", model: "gemini-2.5-pro", duration_ms: 800, status_code: 200, input_token_count: 100, output_token_count: 10, thoughts_token_count: 40 } });
  await provider.forceFlush();
  await provider.shutdown();
  const g = events.find((e) => e.sessionId === "old-gemini")!;
  assert.ok(g, "the event posted to / was read as logs");
  assert.equal(g.usage!.output, 50, "thoughts are billed output");
  assert.equal(r.stats.requests.get("logs accepted"), 4);
  assert.equal((await post(port, "/", JSON.stringify({ resourceSpans: [] }))).status, 200);
  assert.equal(r.stats.requests.get("traces accepted"), 1);
});
