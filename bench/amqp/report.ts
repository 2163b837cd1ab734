// The RabbitMQ benchmark's results: the row schema of its JSON, the rows every system reports (the
// table's order, which the smoke test checks), and the Markdown table of medians with celeriac's ratio.
import { format } from "../report.ts";

export type AmqpSystem = "celeriac" | "celery";
export type AmqpScenario = "enqueue" | "enqueue_bulk" | "drain" | "roundtrip" | "connections";
export type AmqpUnit = "tasks/s" | "ms_p50" | "ms_p95" | "ms_p99" | "connections" | "channels";
export const AMQP_SYSTEMS: AmqpSystem[] = ["celeriac", "celery"];
export const AMQP_SCENARIOS: AmqpScenario[] = ["enqueue", "enqueue_bulk", "drain", "roundtrip", "connections"];
/** The round trip's latency percentiles, in order. */
export const PERCENTILE_UNITS = ["ms_p50", "ms_p95", "ms_p99"] as const;

/** One row of the JSON: bench/report.ts's ResultRow schema plus `broker`, and "channels" as a unit. */
export interface AmqpRow {
  broker: "amqp";
  system: AmqpSystem;
  scenario: AmqpScenario;
  value: number;
  unit: AmqpUnit;
  runs: number[];
  detail?: string;
}

/** Every row of the table, in order: [scenario, unit, detail]; each system reports all of them. */
export const AMQP_ROW_ORDER: [AmqpScenario, AmqpUnit, string?][] = [
  ["enqueue", "tasks/s"],
  ["enqueue_bulk", "tasks/s"],
  ["drain", "tasks/s"],
  ...PERCENTILE_UNITS.map((unit): [AmqpScenario, AmqpUnit] => ["roundtrip", unit]),
  ...["worker", "worker_results"].flatMap((detail): [AmqpScenario, AmqpUnit, string][] => [
    ["connections", "connections", detail],
    ["connections", "channels", detail],
  ]),
];

/** The medians as a Markdown table; "vs celery" > 1 is better for celeriac whichever way the unit points. */
export function amqpTable(results: readonly AmqpRow[]): string {
  const lines = ["| scenario | unit | celeriac | celery | vs celery |", "|---|---|--:|--:|--:|"];
  for (const [scenario, unit, detail] of AMQP_ROW_ORDER) {
    const [ours, theirs] = AMQP_SYSTEMS.map((system) => results.find((r) => r.system === system && r.scenario === scenario && r.unit === unit && r.detail === detail)?.value);
    if (ours === undefined && theirs === undefined) continue;
    const ratio = ours && theirs && ours > 0 && theirs > 0 ? `${(unit === "tasks/s" ? ours / theirs : theirs / ours).toFixed(2)}x` : "–";
    lines.push(`| ${detail ? `${scenario} (${detail})` : scenario} | ${unit} | ${format(ours)} | ${format(theirs)} | ${ratio} |`);
  }
  return lines.join("\n");
}
