// Measures Redis memory per queued task (INFO memory used_memory delta over N LPUSHed add(i, i) calls):
// Celery 5.2.6's own envelope (the captured fixture, fresh ids per message) against both of our formats,
// the kombu-compatible envelope (messageFormat "celery") and the compact one (messageFormat "compact").
// Run: node --import tsx bench/redis-memory.ts [count=100000] [db=14]   (FLUSHES that db)
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { Redis } from "ioredis";
import { createRedisBroker } from "../src/broker/redis/broker.ts";
import { encodeTaskMessage } from "../src/protocol/celery-v2.ts";
import { emptyEmbed, type TaskMessage } from "../src/protocol/message.ts";

const count = Number(process.argv[2] ?? 100_000);
const db = Number(process.argv[3] ?? 14);
const admin = new Redis({ host: "127.0.0.1", port: 6379, db, protocol: 2 });

async function usedMemory(): Promise<number> {
  const info = await admin.info("memory");
  return Number(/used_memory:(\d+)/.exec(info)?.[1]);
}

async function measure(label: string, fill: () => Promise<void>): Promise<void> {
  await admin.flushdb();
  const before = await usedMemory();
  await fill();
  const after = await usedMemory();
  const sample = (await admin.lindex("celery", 0)) ?? "";
  console.log(`${label}: ${((after - before) / count).toFixed(1)} bytes/task (envelope ${Buffer.byteLength(sample)} bytes)`);
}

function addCall(i: number): TaskMessage {
  const id = randomUUID();
  return {
    id, task: "interop.add", args: [i, i], kwargs: {}, embed: emptyEmbed(), eta: null, expires: null, retries: 0,
    rootId: id, parentId: null, groupId: null, groupIndex: null, timeLimit: [null, null], priority: null,
    ignoreResult: false, shadow: null, origin: `gen${process.pid}@bench`, argsrepr: null, kwargsrepr: null,
    replyTo: randomUUID(), correlationId: id, headers: {}, serializer: "json",
  };
}

const fixture = JSON.parse(readFileSync(new URL("../../shared/fixtures/celery-5.2.6/redis-broker/add-delay.json", import.meta.url), "utf8")) as { entries: { raw: string }[] };
const celeryRaw = (fixture.entries[0] as { raw: string }).raw;

await measure("celery 5.2.6 envelope (fixture, fresh uuids)", async () => {
  for (let start = 0; start < count; start += 1000) {
    const pipeline = admin.pipeline();
    for (let i = start; i < Math.min(count, start + 1000); i++) {
      const env = JSON.parse(celeryRaw) as { body: string; headers: Record<string, unknown>; properties: Record<string, unknown> };
      const id = randomUUID();
      env.body = Buffer.from(JSON.stringify([[i, i], {}, emptyEmbed()]).replaceAll(",", ", ").replaceAll(":", ": ")).toString("base64");
      env.headers["id"] = id;
      env.headers["root_id"] = id;
      env.headers["argsrepr"] = `(${i}, ${i})`;
      env.properties["correlation_id"] = id;
      env.properties["delivery_tag"] = randomUUID();
      pipeline.lpush("celery", JSON.stringify(env).replaceAll('","', '", "').replaceAll('":', '": '));
    }
    await pipeline.exec();
  }
});

for (const format of ["celery", "compact"] as const) {
  const broker = createRedisBroker(`redis://127.0.0.1:6379/${db}`, {
    connectionMaxRetries: 3, connectionTimeoutMs: 5000, heartbeatSeconds: 0, visibilityTimeoutSeconds: 3600, log: () => undefined,
    transportOptions: { messageFormat: format },
  });
  await broker.connect();
  await measure(`celeriac messageFormat "${format}"${format === "celery" ? " (kombu envelope, Python workers read it)" : " (Celeriac workers only)"}`, async () => {
    for (let start = 0; start < count; start += 1000) {
      const batch: Promise<void>[] = [];
      for (let i = start; i < Math.min(count, start + 1000); i++) batch.push(broker.publish("celery", encodeTaskMessage(addCall(i))));
      await Promise.all(batch);
    }
  });
  await broker.close();
}
await admin.flushdb();
await admin.quit();
