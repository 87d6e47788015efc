import { test } from "node:test";
import assert from "node:assert/strict";
import { BusDecodeError, createMessage, decodeFrame, encodeMessage } from "../../src/bus/index.js";

test("a message gets the seed's defaults and encodes as one compact JSON line", () => {
  const m = createMessage({ agent: "claude-code:8421", topic: "finding", summary: "null deref on missing token" });
  assert.equal(m.source, "");
  assert.equal(m.path, "");
  assert.deepEqual(m.data, {});
  assert.equal(m.schema_version, 1);
  assert.match(m.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.match(m.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  const line = encodeMessage({ ...m, path: "services/auth.py:42", data: { commit: "abc123" } });
  assert.equal(line.endsWith("\n"), true);
  assert.equal(line.indexOf("\n"), line.length - 1);
  assert.equal(line.includes(": "), false, "compact separators");
  assert.deepEqual(Object.keys(JSON.parse(line)), ["agent", "topic", "summary", "source", "path", "data", "id", "timestamp", "schema_version"]);
});

test("decoding keeps given values and accepts Python's spacing and +00:00 timestamps", () => {
  const frame =
    '{"agent": "cursor:9133", "topic": "finding", "summary": "confirmed", "path": "services/auth.py:42", "id": "f4c4", "timestamp": "2026-05-09T15:04:42+00:00", "schema_version": 1, "extra": true}\n';
  const m = decodeFrame(frame);
  assert.equal(m.agent, "cursor:9133");
  assert.equal(m.id, "f4c4");
  assert.equal(m.timestamp, "2026-05-09T15:04:42+00:00");
  assert.equal(m.source, "");
});

test("bad frames are errors with a specific reason, never a crash", () => {
  const cases: Array<[string, string]> = [
    ["not json", "frame is not valid JSON (unexpected character)"],
    ['{"agent":"a:1",', "frame is not valid JSON (it ends too early)"],
    ['{"agent" "a:1"}', "frame is not valid JSON (error at character 9)"],
    ["[1,2]", "frame is not a JSON object (got an array)"],
    ['"text"', "frame is not a JSON object (got string)"],
    ["null", "frame is not a JSON object (got null)"],
    ['{"agent":"a:1","topic":"finding"}', 'frame is missing required field "summary"'],
    ['{"agent":"a:1","topic":"finding","summary":3}', 'frame field "summary" must be a string'],
    ['{"agent":"a:1","topic":"finding","summary":"s","data":[1]}', 'frame field "data" must be an object'],
    ['{"agent":"a:1","topic":"finding","summary":"s","schema_version":"1"}', 'frame field "schema_version" must be an integer'],
  ];
  for (const [frame, reason] of cases) {
    assert.throws(() => decodeFrame(frame), (err: unknown) => err instanceof BusDecodeError && err.message === reason, frame);
  }
  assert.throws(() => createMessage({ agent: "a:1", topic: "finding" } as never), /message is missing required field "summary"/);
});

test("a bad frame's reason never quotes the frame (it may carry terminal escapes)", () => {
  for (const frame of ["\x1b]52;c;SGVsbG8=\x07 not json", '{"agent":"\x1b[2J', "\u009b31m", '{"a":1} \u202e trailing']) {
    assert.throws(
      () => decodeFrame(frame),
      (err: unknown) => err instanceof BusDecodeError && !/[\x00-\x1f\x7f-\x9f\u202e]/.test(err.message) && !err.message.includes("SGVsbG8") && !err.message.includes("trailing"),
      frame,
    );
  }
});
