// Child process for amqp-worker.test.ts: our worker with acksLate on one queue, running an
// `interop.sleep` that never finishes in time, until the parent kills it with SIGKILL.
import { createApp } from "../../src/app/app.ts";
import { createWorker } from "../../src/worker/worker.ts";
import { AMQP_URL } from "./amqp-helpers.ts";

const queue = process.argv[2] as string;
const app = createApp({ brokerUrl: AMQP_URL, resultBackend: "rpc://", taskAcksLate: true, readEnv: false });
app.task("interop.sleep", async (seconds: number) => {
  console.log("started");
  await new Promise((resolve) => setTimeout(resolve, 600_000));
  return seconds;
});
await createWorker(app, { queues: [queue], concurrency: 4 }).start();
console.log("ready");
