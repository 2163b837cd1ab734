// The Node agent process: plays one role (worker, produce, roundtrip) for one system, as the harness
// asked in its JSON argument, and talks back in JSON lines. Run: node --import tsx bench/agent.ts SYSTEM JSON
import type { AgentParams } from "./protocol.ts";
import { emit, exitOnStop } from "./agent-kit.ts";

async function main(): Promise<void> {
  const [system, json] = process.argv.slice(2);
  const params = JSON.parse(json ?? "{}") as AgentParams;
  exitOnStop();
  const agent = system === "celeriac" ? await import("./systems/celeriac.ts") : system === "bullmq" ? await import("./systems/bullmq.ts") : null;
  if (!agent) throw new Error(`unknown system "${system}"`);
  await agent.runAgent(params);
  // A worker keeps consuming until the harness says "stop"; producers and clients are done.
  if (params.role !== "worker") process.exit(0);
}

main().catch((error: unknown) => {
  emit({ event: "error", message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  process.exit(1);
});
