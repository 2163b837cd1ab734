// Cross-language tests against the real Python Celery 5.2.6 (Debian's /usr/bin/python3) on the loopback
// Redis, db 10: Python produces and we consume; we produce and a Python worker runs it, and we read its
// results with our backend; Python reads results our backend stored.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { Delivery } from "../../src/broker/broker.ts";
import { createRedisBroker, type RedisBroker } from "../../src/broker/redis/broker.ts";
import { createRedisBackend, type RedisBackend } from "../../src/backend/redis/backend.ts";
import { decodeTaskMessage, encodeTaskMessage } from "../../src/protocol/celery-v2.ts";
import { emptyEmbed, type TaskMessage } from "../../src/protocol/message.ts";
import { eventually } from "../conformance/fixtures.ts";
import { adminClient, backendOptions, brokerOptions, redisUrl } from "../integration/redis-helpers.ts";

import { PYTHON } from "./python-process.ts";

const DB = 10;
const cwd = fileURLToPath(new URL("./python/", import.meta.url));
const env = { ...process.env, CELERY_BROKER_URL: redisUrl(DB), CELERY_RESULT_BACKEND: redisUrl(DB), PYTHONPATH: cwd };
const run = promisify(execFile);
const admin = adminClient(DB);

function call(task: string, args: unknown[], kwargs: Record<string, unknown> = {}, extra: Partial<TaskMessage> = {}): TaskMessage {
  const id = randomUUID();
  return {
    id, task, args, kwargs, embed: emptyEmbed(), eta: null, expires: null, retries: 0, rootId: id, parentId: null,
    groupId: null, groupIndex: null, timeLimit: [null, null], priority: null, ignoreResult: false, shadow: null,
    origin: `node${process.pid}@interop`, argsrepr: null, kwargsrepr: null, replyTo: randomUUID(), correlationId: id,
    headers: {}, serializer: "json", ...extra,
  };
}

describe("interop with Python Celery 5.2.6 over Redis", () => {
  let broker: RedisBroker;
  let backend: RedisBackend;
  before(async () => {
    await admin.flushdb();
    broker = createRedisBroker(redisUrl(DB), brokerOptions());
    backend = createRedisBackend(redisUrl(DB), backendOptions());
    await broker.connect();
    await backend.connect();
  });
  after(async () => {
    await broker.close();
    await backend.close();
    await admin.flushdb();
    await admin.quit();
  });

  test("Python producer -> our consumer: plain, kwargs, countdown, priority, unicode, send_task", async () => {
    const { stdout } = await run(PYTHON, ["produce.py"], { cwd, env, timeout: 30_000 });
    const sent = new Map(stdout.trim().split("\n").map((line) => {
      const { label, id } = JSON.parse(line) as { label: string; id: string };
      return [id, label] as const;
    }));
    const got: Delivery[] = [];
    const consumer = await broker.consume(["celery"], (d) => got.push(d), { prefetch: 10 });
    await eventually(() => got.length === 6, 10_000, "six Python messages");
    const byLabel = new Map(got.map((d) => {
      const msg = decodeTaskMessage(d.message, { accept: ["json"], maxBytes: 1 << 20 });
      return [sent.get(msg.id) as string, msg] as const;
    }));
    assert.deepEqual(byLabel.get("plain")?.args, [2, 3]);
    assert.deepEqual(byLabel.get("kwargs")?.kwargs, { x: 4, y: 5 });
    const countdown = byLabel.get("countdown");
    assert.ok(countdown?.eta && countdown.eta.getTime() > Date.now() - 5000, "countdown arrives as an eta");
    assert.equal(byLabel.get("priority")?.priority, 5);
    const echoed = byLabel.get("unicode")?.args[0] as { text: string; nested: { big: unknown } };
    assert.equal(echoed.text, "Zoë ☃ 日本語 🎉");
    assert.equal(String(echoed.nested.big), "9007199254740993");
    assert.equal(byLabel.get("by-name")?.task, "interop.sum_list");
    for (const d of got) await d.ack();
    await consumer.cancel();
    assert.equal(await admin.hlen("celeriac.unacked"), 0);
  });

  describe("our producer -> a real Celery worker", () => {
    let worker: ChildProcess;
    before(() => {
      worker = spawn(PYTHON, ["-m", "celery", "-A", "interop_app", "worker", "--pool=solo", "-Q", "celery", "-l", "warning", "--without-mingle", "--without-gossip", "--without-heartbeat"], { cwd, env, stdio: ["ignore", "ignore", "pipe"] });
    });
    after(async () => {
      worker.kill("SIGKILL");
      await new Promise((resolve) => worker.once("exit", resolve));
    });

    const publish = async (msg: TaskMessage): Promise<string> => {
      await broker.publish("celery", encodeTaskMessage(msg));
      return msg.id;
    };

    test("runs plain calls, kwargs, countdown, priority, unicode and nested args, and stores results we read", async () => {
      const nested = { text: "Zoë ☃ 日本語 🎉", list: [1, 2.5, null, true, [3, { k: "v" }]] };
      const ids = {
        plain: await publish(call("interop.add", [2, 3])),
        kwargs: await publish(call("interop.add", [], { x: 4, y: 5 })),
        countdown: await publish(call("interop.add", [1, 1], {}, { eta: new Date(Date.now() + 1500) })),
        priority: await publish(call("interop.add", [6, 6], {}, { priority: 5 })),
        echo: await publish(call("interop.echo", [nested])),
        sum: await publish(call("interop.sum_list", [[1, 2, 3]])),
      };
      const wait = (id: string) => backend.waitForReady(id, { timeoutMs: 30_000 });
      assert.equal((await wait(ids.plain)).value, 5);
      assert.equal((await wait(ids.kwargs)).value, 9);
      assert.equal((await wait(ids.countdown)).value, 2);
      assert.equal((await wait(ids.priority)).value, 12);
      assert.deepEqual((await wait(ids.echo)).value, nested);
      assert.equal((await wait(ids.sum)).value, 6);
    });

    test("reports a failure with its exception type and message, and a retry that then succeeds", async () => {
      const failed = await backend.waitForReady(await publish(call("interop.fail", ["boom ☃"])), { timeoutMs: 30_000 });
      assert.equal(failed.state, "FAILURE");
      assert.equal(failed.error?.type, "ValueError");
      assert.equal(failed.error?.message, "boom ☃");
      const retried = await backend.waitForReady(await publish(call("interop.retry_once", ["k"])), { timeoutMs: 30_000 });
      assert.equal(retried.state, "SUCCESS");
      assert.equal(retried.value, "retried");
    });
  });

  test("Python's AsyncResult.get reads the results our backend stored (waiting on pub/sub)", async () => {
    const ok = randomUUID();
    const bad = randomUUID();
    const reader = run(PYTHON, ["read_result.py", ok, "20"], { cwd, env, timeout: 30_000 });
    await new Promise((resolve) => setTimeout(resolve, 1500)); // let Python subscribe and start waiting
    await backend.store({ taskId: ok, state: "SUCCESS", value: { sum: 5, text: "Zoë" }, error: null, traceback: null, children: [], dateDone: new Date() });
    assert.deepEqual(JSON.parse((await reader).stdout), { state: "SUCCESS", value: { sum: 5, text: "Zoë" }, exc_type: null, exc_message: null });
    await backend.store({ taskId: bad, state: "FAILURE", value: null, error: { type: "ValueError", message: "from node", module: "builtins" }, traceback: "Traceback: node", children: [], dateDone: new Date() });
    const { stdout } = await run(PYTHON, ["read_result.py", bad, "10"], { cwd, env, timeout: 30_000 });
    assert.deepEqual(JSON.parse(stdout), { state: "FAILURE", value: null, exc_type: "ValueError", exc_message: "from node" });
  });
});
