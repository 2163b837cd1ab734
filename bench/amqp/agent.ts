// Celeriac's agent process on RabbitMQ (`npm run bench -- --broker amqp`): bench/systems/celeriac.ts's
// bench.add task and roles, on an amqp:// broker with rpc:// results and a named connection.
// Run: node --import tsx bench/amqp/agent.ts JSON (the harness does; it speaks JSON lines back).
import { agentMain } from "../agent-kit.ts";
import type { AgentParams } from "../protocol.ts";
import { runCeleriacAgent } from "../systems/celeriac.ts";

/** The harness's parameters plus the name RabbitMQ shows for this process's connection. */
export type AmqpAgentParams = AgentParams & { connectionName: string };

agentMain(
  () => JSON.parse(process.argv[2] ?? "{}") as AmqpAgentParams,
  (params) => runCeleriacAgent(params, { connectionName: params.connectionName }),
);
