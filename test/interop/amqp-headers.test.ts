// Header wire types as Python sees them: py-amqp reads an AMQP `b` as unsigned and `s` as a short string,
// so our integer headers must go as `I`/`l`; `timelimit: [null, null]` must arrive as [None, None].
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { encodeTaskMessage } from "../../src/protocol/celery-v2.ts";
import { emptyEmbed } from "../../src/protocol/message.ts";
import { celeryCompatibleBroker, runPython } from "./amqp-helpers.ts";

const broker = celeryCompatibleBroker();
const queue = `interop-headers-${randomUUID().slice(0, 8)}`;

after(async () => {
  await broker.deleteQueue(queue).catch(() => undefined);
  await broker.close();
});

test("our task headers decode in py-amqp with Celery's Python types", async () => {
  await broker.connect();
  await broker.declareQueue(queue);
  const id = randomUUID();
  const wire = encodeTaskMessage({
    id, task: "interop.add", args: [2, 3], kwargs: {}, embed: emptyEmbed(), eta: null, expires: null, retries: 300, rootId: id,
    parentId: null, groupId: null, groupIndex: 2, timeLimit: [null, null], priority: 5, ignoreResult: false, shadow: null, origin: "js@host",
    argsrepr: null, kwargsrepr: null, replyTo: null, correlationId: null,
    headers: { small: 1, negative: -1, big: 2 ** 40, ratio: 1.5, text: "Zoë ☃", nested: { n: 7, list: [1, "a", null] } }, serializer: "json",
  });
  await broker.publish(queue, wire);
  const python = runPython(["read_headers.py", queue]);
  const seen = (await python.nextLine()) as { headers: Record<string, [string, unknown]>; priority: number; delivery_mode: number; content_type: string };
  const h = seen.headers;
  assert.deepEqual(h["retries"], ["int", 300]);
  assert.deepEqual(h["group_index"], ["int", 2]);
  assert.deepEqual(h["small"], ["int", 1]);
  assert.deepEqual(h["negative"], ["int", -1], "a negative int stays negative (not read as unsigned)");
  assert.deepEqual(h["big"], ["int", 2 ** 40]);
  assert.deepEqual(h["ratio"], ["float", 1.5]);
  assert.deepEqual(h["text"], ["str", "Zoë ☃"]);
  assert.deepEqual(h["timelimit"], ["list", [["NoneType", null], ["NoneType", null]]]);
  assert.deepEqual(h["ignore_result"], ["bool", false]);
  assert.deepEqual(h["shadow"], ["NoneType", null]);
  assert.deepEqual(h["nested"], ["dict", { n: ["int", 7], list: ["list", [["int", 1], ["str", "a"], ["NoneType", null]]] }]);
  assert.equal(seen.priority, 5);
  assert.equal(seen.delivery_mode, 2);
  assert.equal(seen.content_type, "application/json");
});
