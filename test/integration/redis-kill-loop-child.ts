// The worker redis-kill-loop.test.ts starts as a child process, over and over, and kills with SIGKILL
// (and once more, not killed, to drain what is left): acksLate, a 2 s visibility timeout, and a task
// that records each start and each completion of a numbered task in one Redis list.
//
// It is JavaScript run with `node --input-type=module -e` against the compiled library (bench/library.ts
// builds it), not TypeScript through tsx: it starts 240 times, and a child through tsx costs about
// 0.4 s of CPU to start where this costs 0.15 s, on the 2 cores the whole suite shares.

/** Redis list of "<task number> <pid> s" (started) and "<task number> <pid> d" (done) entries. */
export const EVENTS = "killloop:events";
export const TASK = "killloop.run";

/** argv: <library URL> <redis URL> <queues, comma-separated> <concurrency>. Prints "ready", then logs as "log <line>". */
export const CHILD_SOURCE = `
const [library, url, queues, concurrency] = process.argv.slice(1);
const { createApp, createWorker } = await import(library);
const { Redis } = await import("ioredis");
const recorder = new Redis(url);
const app = createApp({ brokerUrl: url, resultBackend: url, taskAcksLate: true, taskIgnoreResult: true, brokerVisibilityTimeout: 2, readEnv: false });
app.log = (level, message) => console.log("log " + level + " " + message);
app.task(${JSON.stringify(TASK)}, async (n, ms) => {
  await recorder.rpush(${JSON.stringify(EVENTS)}, n + " " + process.pid + " s");
  if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
  await recorder.rpush(${JSON.stringify(EVENTS)}, n + " " + process.pid + " d");
});
const worker = createWorker(app, { queues: queues.split(","), concurrency: Number(concurrency), prefetchMultiplier: 2 });
await worker.start();
process.on("SIGTERM", async () => {
  await worker.stop();
  await app.close();
  await recorder.quit();
  process.exit(0);
});
console.log("ready");
`;
