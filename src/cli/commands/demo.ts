// `celeriac demo`: a worker and a producer in one process on the embedded broker, running a realistic
// mix (fast, slow, flaky with backoff retries, a countdown, an expired task, a failure), with live
// progress and a summary table. Zero servers needed.
import { createApp } from "../../app/app.ts";
import type { AsyncResult } from "../../app/result.ts";
import { createWorker } from "../../worker/worker.ts";

class FlakyUpstreamError extends Error {
  override name = "FlakyUpstreamError";
}

function defineDemo() {
  const app = createApp({ brokerUrl: "memory://", resultBackend: "memory://", readEnv: false, workerConcurrency: 8 });
  const attempts = new Map<string, number>();
  const tasks = {
    sendEmail: app.task("demo.send_email", async (to: string) => {
      await new Promise((r) => setTimeout(r, 5 + Math.random() * 20));
      return `sent to ${to}`;
    }),
    makeThumbnail: app.task(
      "demo.make_thumbnail",
      async (ctx, image: string) => {
        for (let step = 1; step <= 4; step++) {
          await new Promise((r) => setTimeout(r, 60));
          await ctx.progress({ image, step, of: 4 });
        }
        return `${image}.thumb.png`;
      },
      { bind: true },
    ),
    callWebhook: app.task(
      "demo.call_webhook",
      async (ctx, url: string) => {
        const n = (attempts.get(ctx.request.id) ?? 0) + 1;
        attempts.set(ctx.request.id, n);
        if (n <= 2) throw new FlakyUpstreamError(`${url} answered 503 (attempt ${n})`);
        return { url, status: 200, attempts: n };
      },
      { bind: true, autoretryFor: [FlakyUpstreamError], retryBackoff: 0.1, retryJitter: false, maxRetries: 5 },
    ),
    renderPdf: app.task("demo.render_pdf", async (pages: number) => {
      if (pages > 500) throw new RangeError(`a ${pages}-page PDF is over the 500-page limit`);
      await new Promise((r) => setTimeout(r, pages));
      return { pages };
    }),
    reindex: app.task("demo.reindex", (index: string) => `reindexed ${index}`),
  };
  return { app, tasks };
}

interface Sent {
  kind: string;
  result: AsyncResult<unknown>;
  sentAt: number;
}

export async function runDemo(options: { quiet?: boolean } = {}): Promise<number> {
  const { app, tasks } = defineDemo();
  const out = process.stdout;
  const worker = createWorker(app);
  const finishedAt = new Map<string, number>();
  const count = { succeeded: 0, failed: 0, retried: 0, revoked: 0 };
  app.events.on("task:succeeded", (e) => (count.succeeded++, finishedAt.set(e.id, performance.now())));
  app.events.on("task:failed", (e) => (count.failed++, finishedAt.set(e.id, performance.now())));
  app.events.on("task:revoked", (e) => (count.revoked++, finishedAt.set(e.id, performance.now())));
  app.events.on("task:retried", () => count.retried++);
  await worker.start();
  out.write(`celeriac demo: a worker (concurrency ${worker.concurrency}) and a producer on the embedded memory:// broker\n\n`);

  const sent: Sent[] = [];
  const send = async (kind: string, result: Promise<AsyncResult<unknown>>) => sent.push({ kind, result: await result, sentAt: performance.now() });
  for (let i = 0; i < 20; i++) await send("email", tasks.sendEmail.delay(`user${i}@example.com`));
  for (let i = 0; i < 6; i++) await send("thumbnail", tasks.makeThumbnail.delay(`photo-${i}.jpg`));
  for (let i = 0; i < 4; i++) await send("webhook (flaky)", tasks.callWebhook.delay(`https://hooks.example.com/${i}`));
  for (const pages of [40, 120, 900]) await send(pages > 500 ? "pdf (too big)" : "pdf", tasks.renderPdf.delay(pages));
  await send("reindex (countdown 1 s)", tasks.reindex.applyAsync(["products"], { countdown: 1 }));
  await send("reindex (expired)", tasks.reindex.applyAsync(["stale"], { expires: new Date(Date.now() - 1000) }));

  const total = sent.length;
  const progress = setInterval(() => {
    const done = count.succeeded + count.failed + count.revoked;
    if (!options.quiet) out.write(`  progress: ${done}/${total} done · ${count.succeeded} succeeded · ${count.failed} failed · ${count.retried} retries · ${count.revoked} revoked\n`);
  }, 250);
  const settled = await Promise.all(sent.map(async (s) => ({ ...s, value: await s.result.get({ timeout: 30, propagate: false }), state: await s.result.state() })));
  clearInterval(progress);

  const rows = new Map<string, { states: Map<string, number>; times: number[] }>();
  for (const s of settled) {
    const row = rows.get(s.kind) ?? { states: new Map<string, number>(), times: [] as number[] };
    row.states.set(s.state, (row.states.get(s.state) ?? 0) + 1);
    row.times.push((finishedAt.get(s.result.id) ?? performance.now()) - s.sentAt);
    rows.set(s.kind, row);
  }
  const table = [...rows].map(([kind, row]) => {
    const times = row.times.sort((a, b) => a - b);
    return {
      task: kind,
      count: times.length,
      states: [...row.states].map(([state, n]) => `${state}×${n}`).join(" "),
      "median ms": Math.round(times[Math.floor(times.length / 2)] as number),
      "max ms": Math.round(times[times.length - 1] as number),
    };
  });
  out.write(`\n${renderTable(table)}\n`);
  const failedPdf = settled.find((s) => s.kind === "pdf (too big)");
  if (failedPdf) out.write(`\nthe failure, as stored: ${JSON.stringify(failedPdf.value)}\n`);
  out.write(`\n${total} tasks: ${count.succeeded} succeeded, ${count.failed} failed, ${count.revoked} revoked, ${count.retried} retries along the way\n`);
  await worker.stop("demo finished");
  await app.close();
  const expected = count.succeeded === total - 2 && count.failed === 1 && count.revoked === 1;
  return expected ? 0 : 1;
}

function renderTable(rows: Record<string, string | number>[]): string {
  const first = rows[0];
  if (!first) return "";
  const columns = Object.keys(first);
  const width = (c: string) => Math.max(c.length, ...rows.map((r) => String(r[c]).length));
  const line = (cells: string[]) => cells.map((cell, i) => cell.padEnd(width(columns[i] as string))).join("  ");
  return [line(columns), line(columns.map((c) => "-".repeat(width(c)))), ...rows.map((r) => line(columns.map((c) => String(r[c]))))].join("\n");
}
