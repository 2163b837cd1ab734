// The Node agent process: plays one role (worker, produce, roundtrip) for one system, as the harness
// asked in its JSON argument, and talks back in JSON lines. Run: node --import tsx bench/agent.ts SYSTEM JSON
import type { AgentParams } from "./protocol.ts";
import { agentMain } from "./agent-kit.ts";

const [system, json] = process.argv.slice(2);
agentMain(
  () => JSON.parse(json ?? "{}") as AgentParams,
  async (params) => {
    const agent = system === "celeriac" ? await import("./systems/celeriac.ts") : system === "bullmq" ? await import("./systems/bullmq.ts") : null;
    if (!agent) throw new Error(`unknown system "${system}"`);
    await agent.runAgent(params);
  },
);
