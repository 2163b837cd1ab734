import { test } from "node:test";
import assert from "node:assert/strict";
import { fromAmqpMessage, toAmqpProperties, typeHeaderValue } from "./amqp-properties.ts";
import type { WireMessage } from "./message.ts";
import { loadFixture } from "./fixtures.test-helper.ts";

const fixture = loadFixture("amqp/add-options.json") as unknown as {
  messages: { properties: { application_headers: Record<string, unknown> }; content_header_decoded_with_wire_types: { properties: { name: string; value: unknown }[] } }[];
};

// amqplib tag for each typed form, to compare with the fixture's AMQP tags.
function tagOf(value: unknown): string {
  if (value === null) return "V";
  if (typeof value === "string") return "S";
  if (typeof value === "boolean") return "t";
  if (Array.isArray(value)) return "A";
  const typed = value as { "!"?: string };
  return ({ int: "I", long: "l", double: "d" } as Record<string, string>)[typed["!"] ?? ""] ?? "?";
}

test("headers of a Celery message get the same AMQP field types Python's py-amqp wrote", () => {
  const message = fixture.messages[0]!;
  const headers = message.properties.application_headers;
  const wire = message.content_header_decoded_with_wire_types.properties.find((p) => p.name === "application_headers")!.value as { name: string; type: string }[];
  for (const { name, type } of wire) assert.equal(tagOf(typeHeaderValue(headers[name])), type, `header ${name}`);
});

test("Celery's properties: persistent, priority always present, expiration only when set", () => {
  const wire: WireMessage = { body: new Uint8Array([1]), contentType: "application/json", contentEncoding: "utf-8", headers: { retries: 0, timelimit: [null, null] }, properties: { correlationId: "id-1", replyTo: "r" } };
  const props = toAmqpProperties(wire);
  assert.equal(props.deliveryMode, 2);
  assert.equal(props.priority, 0);
  assert.equal(props.correlationId, "id-1");
  assert.equal(props.expiration, undefined);
  assert.deepEqual(props.headers["timelimit"], [null, null]);
  assert.deepEqual(props.headers["retries"], { "!": "int", value: 0 });
  assert.equal(toAmqpProperties({ ...wire, properties: { expiration: "60000" } }).expiration, "60000");
});

test("a received message maps back, with missing properties as defaults and typed values untyped", () => {
  const back = fromAmqpMessage(Buffer.from("x"), { headers: { when: { "!": "timestamp", value: 5 }, list: [1, null] }, correlationId: "c", priority: undefined });
  assert.equal(back.contentType, "");
  assert.equal(back.properties.priority, 0);
  assert.equal(back.properties.correlationId, "c");
  assert.deepEqual(back.headers, { when: 5, list: [1, null] });
});
