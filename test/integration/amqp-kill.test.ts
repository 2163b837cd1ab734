// kill -9 of a consumer that holds an unacknowledged delivery (an acks_late task mid-run): RabbitMQ
// sees the TCP connection die and gives the message to the next consumer, marked redelivered.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { randomUUID } from "node:crypto";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { AmqpBroker } from "../../src/broker/amqp/amqp-broker.ts";
import type { Delivery } from "../../src/broker/broker.ts";
import { AMQP_URL, brokerOptions } from "../interop/amqp-helpers.ts";
import { eventually, labelOf, wireMessage } from "../conformance/fixtures.ts";

const broker = new AmqpBroker(AMQP_URL, brokerOptions());
const queue = `kill-acks-late-${randomUUID().slice(0, 8)}`;

after(async () => {
  await broker.deleteQueue(queue).catch(() => undefined);
  await broker.close();
});

test("a task held unacked by a SIGKILLed consumer runs on another consumer", async () => {
  await broker.connect();
  await broker.declareQueue(queue);
  await broker.publish(queue, wireMessage("survive-kill-9"));
  const child = spawn(process.execPath, ["--import", "tsx", fileURLToPath(new URL("./amqp-kill-child.ts", import.meta.url)), queue], { stdio: ["ignore", "pipe", "inherit"] });
  const lines: string[] = [];
  createInterface({ input: child.stdout }).on("line", (line) => lines.push(line));
  await eventually(() => lines.includes("got survive-kill-9"), 20_000, "the child to take the message");
  assert.equal(await broker.length(queue), 0, "the message is out of the queue, held by the child");
  child.kill("SIGKILL");
  await once(child, "exit");
  const got: Delivery[] = [];
  const consumer = await broker.consume([queue], (d) => got.push(d), { prefetch: 1 });
  await eventually(() => got.length === 1, 20_000, "the message back from the dead consumer");
  assert.equal(labelOf((got[0] as Delivery).message), "survive-kill-9");
  assert.equal(got[0]?.redelivered, true);
  await got[0]?.ack();
  await consumer.cancel();
});
