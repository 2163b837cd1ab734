// Bugs the decoder fuzzer (fuzz.test.ts) found, each pinned by the smallest message that showed it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { fromKombuEnvelope, toKombuEnvelope } from "./kombu-envelope.ts";
import { fromCompact, toCompact } from "./compact-envelope.ts";

// A Python peer may send any property or header name, "__proto__" included (JSON.parse keeps it as an
// own key). Plain assignment turned it into a prototype swap: the key vanished on re-publish and the
// object read the attacker's values through its prototype.
const RAW =
  '{"body": "[[], {}, null]", "content-type": "application/json", "headers": {"task": "t", "id": "i", "__proto__": {"polluted": 1}},' +
  ' "properties": {"delivery_tag": "tag", "x-kept": 2, "__proto__": {"polluted": 1}}}';

test("a __proto__ property is kept as an own key, and the object's prototype is untouched", () => {
  const { wire } = fromKombuEnvelope(RAW);
  const extra = wire.properties.extra as Record<string, unknown>;
  assert.deepEqual(Object.keys(extra).sort(), ["__proto__", "x-kept"]);
  assert.equal(Object.getPrototypeOf(extra), Object.prototype);
  assert.equal((extra as { polluted?: unknown }).polluted, undefined);
});

test("__proto__ headers and properties survive a re-publish, as a kombu envelope and as a compact message", () => {
  const { wire } = fromKombuEnvelope(RAW);
  const again = fromKombuEnvelope(toKombuEnvelope(wire, { queue: "q", deliveryTag: "tag2" })).wire;
  assert.deepEqual(Object.getOwnPropertyDescriptor(again.headers, "__proto__")?.value, { polluted: 1 });
  assert.deepEqual(Object.getOwnPropertyDescriptor(again.properties.extra, "__proto__")?.value, { polluted: 1 });
  const compact = fromCompact(toCompact(wire, "AbCdEfGhIjKl"), "q").wire;
  assert.deepEqual(Object.getOwnPropertyDescriptor(compact.headers, "__proto__")?.value, { polluted: 1 });
});
