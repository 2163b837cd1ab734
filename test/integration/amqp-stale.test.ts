// Nothing unstarted runs twice after a RabbitMQ connection loss: a worker holding prefetched deliveries
// it has not started (prefetch 20, concurrency 2) loses its connection, RabbitMQ requeues them at once,
// and the worker must drop its copies instead of running them (the redelivered copies run); the tasks
// running at the loss finish, and run again only with acksLate. Losses come from `rabbitmqctl
// close_connection` on the shared server and from a restart of a private node.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { createApp, type App } from "../../src/app/app.ts";
import { createWorker, type Worker } from "../../src/worker/worker.ts";
import { AMQP_URL } from "../interop/amqp-helpers.ts";
import { delay, eventually } from "../conformance/fixtures.ts";
import { closeConnection, connectionsNamed } from "./rabbitmqctl.ts";
import { startRabbitNode, type RabbitNode } from "./rabbitmq-node.ts";

// Each loss comes while the worker is busy with a wave of tasks: CONCURRENCY of them running, held at
// the wave's gate until the worker has seen the loss, and a full prefetch window of others not started.
const WAVE = 40;
const CONCURRENCY = 2;
const PREFETCH = CONCURRENCY * 10;
const closers: (() => Promise<void>)[] = [];

after(async () => {
  for (const close of closers.reverse()) await close().catch(() => undefined);
});

interface Gate {
  opened: Promise<void>;
  open: () => void;
}

/** One worker consuming recorded tasks from a queue of its own, on a connection of its own. */
interface Stream {
  app: App;
  worker: Worker;
  queue: string;
  name: string;
  acksLate: boolean;
  /** Per task, the number of losses the worker had seen at each start. */
  starts: Map<number, number[]>;
  finished: Set<number>;
  gates: Map<number, Gate>;
  sent: number;
  /** The worker's account of each loss. */
  reports: { dropped: number; unacknowledged: number }[];
  received: () => number;
  losses: () => number;
  reconnects: () => number;
}

async function startStream(baseUrl: string, acksLate: boolean): Promise<Stream> {
  const name = `celeriac-stale-${randomUUID().slice(0, 8)}`;
  // Connections are shared per URL: a URL of this stream's own gives it a connection of its own.
  const url = new URL(baseUrl);
  url.searchParams.set("connection_timeout", String(10_000 + Math.floor(Math.random() * 1000)));
  const app = createApp({ brokerUrl: url.toString(), resultBackend: null, brokerTransportOptions: { connectionName: name }, taskAcksLate: acksLate, readEnv: false });
  let losses = 0;
  let connects = 0;
  app.log = (_level, message) => {
    if (message.includes("lost; reconnecting")) losses++;
    if (message.startsWith("connected to")) connects++;
  };
  const starts = new Map<number, number[]>();
  const finished = new Set<number>();
  const gates = new Map<number, Gate>();
  app.task("stale.record", async (n: number, wave: number) => {
    starts.set(n, [...(starts.get(n) ?? []), losses]);
    await gates.get(wave)?.opened;
    await delay(10);
    finished.add(n);
  });
  const queue = `stale-${randomUUID().slice(0, 8)}`;
  const broker = await app.getBroker();
  await broker.declareQueue(queue);
  const worker = createWorker(app, { queues: [queue], concurrency: CONCURRENCY, prefetchMultiplier: PREFETCH / CONCURRENCY });
  closers.push(async () => {
    for (const gate of gates.values()) gate.open();
    await worker.stop();
    await (await app.getBroker()).purge(queue).catch(() => undefined);
    await app.close();
  });
  const reports: Stream["reports"] = [];
  app.events.on("worker:deliveries-lost", ({ dropped, unacknowledged }) => reports.push({ dropped, unacknowledged }));
  let received = 0;
  app.events.on("task:received", () => received++);
  await worker.start();
  return { app, worker, queue, name, acksLate, starts, finished, gates, sent: 0, reports, received: () => received, losses: () => losses, reconnects: () => connects - 1 };
}

/**
 * Sends a wave and, once CONCURRENCY of its tasks run (held at the gate) and the prefetch window is
 * full of unstarted ones, runs `lose`; opens the gate once the worker has seen the loss.
 */
async function loseMidWave(stream: Stream, lose: () => Promise<void>): Promise<void> {
  const wave = stream.gates.size;
  let open = (): void => {};
  const opened = new Promise<void>((resolve) => (open = resolve));
  stream.gates.set(wave, { opened, open });
  const first = stream.sent;
  for (let i = 0; i < WAVE; i++) await stream.app.sendTask("stale.record", [stream.sent++, wave], { queue: stream.queue });
  // Unacknowledged: the prefetch window; acked early: the running ones, which RabbitMQ replaced.
  const taken = PREFETCH + (stream.acksLate ? 0 : CONCURRENCY);
  const broker = await stream.app.getBroker();
  const started = (): number => [...stream.starts.keys()].filter((n) => n >= first).length;
  await eventually(async () => started() === CONCURRENCY && (await broker.length(stream.queue)) === WAVE - taken, 30_000, "running tasks and a full prefetch window");
  const seen = stream.losses();
  await lose();
  await eventually(() => stream.losses() === seen + 1, 30_000, "the worker to see the loss");
  open();
}

/**
 * Starts of a task not separated by a loss: the second ran a copy the worker should have dropped (a task
 * running at a loss may run again after it, which is at-least-once; one not started at a loss may not).
 */
function countDuplicates(stream: Stream): { unstartedTwice: number; extraStarts: number } {
  let unstartedTwice = 0;
  let extraStarts = 0;
  for (const seen of stream.starts.values()) {
    extraStarts += seen.length - 1;
    for (let i = 1; i < seen.length; i++) if (seen[i] === seen[i - 1]) unstartedTwice++;
  }
  return { unstartedTwice, extraStarts };
}

async function finishAndCheck(stream: Stream, losses: number): Promise<void> {
  await eventually(() => stream.finished.size === stream.sent, 60_000, `all ${stream.sent} tasks to finish`);
  const broker = await stream.app.getBroker();
  await eventually(async () => (await broker.length(stream.queue)) === 0, 20_000, "an empty queue");
  // The last redelivered copies may still be running: let the worker go quiet before counting starts.
  await delay(500);
  const { unstartedTwice, extraStarts } = countDuplicates(stream);
  console.log(`# ${stream.name}: ${losses} loss(es), ${extraStarts} extra start(s), ${unstartedTwice} of tasks not started at a loss; reports ${JSON.stringify(stream.reports)}`);
  assert.equal(stream.losses(), losses, "the worker saw every loss");
  for (let n = 0; n < stream.sent; n++) assert.ok(stream.finished.has(n), `task ${n} ran to the end`);
  assert.equal(unstartedTwice, 0, "no task that had not started at a loss ran twice");
  // Each loss: the running tasks' deliveries could be acknowledged only when acked early (at their start).
  const expected = stream.acksLate ? { dropped: PREFETCH - CONCURRENCY, unacknowledged: CONCURRENCY } : { dropped: PREFETCH, unacknowledged: 0 };
  assert.deepEqual(stream.reports, Array.from({ length: losses }, () => expected), "the worker reported each loss once, with its counts");
  assert.equal(extraStarts, stream.acksLate ? CONCURRENCY * losses : 0, "only acksLate tasks running at a loss ran again");
}

/** The server-side pid of the stream's connection other than `closed` (the list can lag a new one). */
async function connectionPid(stream: Stream, closed = ""): Promise<string> {
  let pid = "";
  await eventually(async () => {
    pid = (await connectionsNamed(stream.name)).find((c) => c.pid !== closed)?.pid ?? "";
    return pid !== "";
  }, 15_000, "the worker's connection to be listed");
  return pid;
}

async function closeThreeTimes(acksLate: boolean): Promise<void> {
  const stream = await startStream(AMQP_URL, acksLate);
  let closed = "";
  for (let loss = 1; loss <= 3; loss++) {
    const pid = await connectionPid(stream, closed);
    await loseMidWave(stream, () => closeConnection(pid, "celeriac stale-delivery test"));
    closed = pid;
    await eventually(() => stream.reconnects() === loss, 30_000, `reconnection ${loss}`);
  }
  await finishAndCheck(stream, 3);
}

test("three connection closes mid-stream: no unstarted task runs twice (acks early)", async () => {
  await closeThreeTimes(false);
});

test("three connection closes mid-stream: no unstarted task runs twice (acksLate)", async () => {
  await closeThreeTimes(true);
});

test("tasks held in memory for their eta across a connection loss run once each, when due", async () => {
  const stream = await startStream(AMQP_URL, false);
  const pid = await connectionPid(stream);
  const held = 4;
  // Due in 4 s: held in worker memory (workerEtaHoldSeconds 10), its copies after the loss as well.
  for (let n = 0; n < held; n++) await stream.app.sendTask("stale.record", [stream.sent++, -1], { queue: stream.queue, countdown: 4 });
  await eventually(() => stream.received() === held, 10_000, "the worker to hold the eta tasks");
  await closeConnection(pid, "celeriac stale-delivery test");
  await eventually(() => stream.received() === 2 * held, 30_000, "the copies redelivered after reconnecting");
  assert.equal(stream.starts.size, 0, "nothing ran before its eta");
  await eventually(() => stream.finished.size === held, 30_000, "the eta tasks to run");
  await delay(500);
  for (const [n, seen] of stream.starts) assert.equal(seen.length, 1, `eta task ${n} ran once`);
  assert.deepEqual(stream.reports, [{ dropped: held, unacknowledged: 0 }], "the held copies of the dead channel were dropped when due");
});

test("a broker restart with prefetched unstarted work: no unstarted task runs twice", async () => {
  let node: RabbitNode;
  try {
    node = await startRabbitNode();
  } catch (error) {
    assert.fail(`a private RabbitMQ node is needed for this test: ${(error as Error).message}`);
  }
  closers.push(() => node.stop());
  const stream = await startStream(node.url, false);
  await loseMidWave(stream, () => node.stopApp());
  await node.startApp();
  await eventually(() => stream.reconnects() === 1, 40_000, "the worker to reconnect after the restart");
  await finishAndCheck(stream, 1);
});
