// The benchmark's outputs: results as medians over runs, a Markdown table with celeriac's ratios
// against BullMQ and Celery, the JSON document (--json), and a hand-written SVG bar chart (--chart).
import type { SystemName } from "./protocol.ts";
import type { Scenario, Unit } from "./scenarios.ts";
import type { BreakdownRow } from "./commandstats.ts";

export interface ResultRow {
  system: SystemName;
  scenario: Scenario;
  value: number;
  unit: Unit;
  runs: number[];
  /** Tells apart figures of one scenario and unit: worker/producer connections, the redis_cpu phase. */
  detail?: string;
}

export interface Report {
  machine: { cores: number; cpuModel: string; memoryGiB: number; platform: string; release: string; arch: string };
  versions: Record<string, string>;
  command: string;
  date: string;
  settings: Record<string, unknown>;
  results: ResultRow[];
  checks: { name: string; ok: boolean; detail: string }[];
  skipped: { system: SystemName; reason: string }[];
  /** Redis commandstats per system and phase: calls and µs per task of every command. */
  breakdown: Partial<Record<SystemName, Record<string, BreakdownRow[]>>>;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

const SYSTEMS: SystemName[] = ["celeriac", "bullmq", "celery"];
const higherIsBetter = (unit: Unit): boolean => unit === "tasks/s";

/** Rows of the table, in a fixed order: [scenario, unit, detail]. */
export const ROW_ORDER: [Scenario, Unit, string?][] = [
  ["enqueue", "tasks/s"],
  ["enqueue_bulk", "tasks/s"],
  ["drain", "tasks/s"],
  ["drain_2proc", "tasks/s"],
  ["drain_results", "tasks/s"],
  ["roundtrip", "ms_p50"],
  ["roundtrip", "ms_p95"],
  ["roundtrip", "ms_p99"],
  ["redis_cpu", "us/task", "drain"],
  ["redis_cpu", "us/task", "drain_results"],
  ["redis_cpu", "us/task", "enqueue_bulk"],
  ["redis_cpu", "us/task", "drain_process"],
  ["redis_cpu", "us/task", "drain_results_process"],
  ["memory", "bytes/task"],
  ["connections", "connections", "producer"],
  ["connections", "connections", "worker"],
  ["connections", "connections", "worker_results"],
];

function find(results: readonly ResultRow[], system: SystemName, scenario: Scenario, unit: Unit, detail?: string): ResultRow | undefined {
  return results.find((r) => r.system === system && r.scenario === scenario && r.unit === unit && r.detail === detail);
}

/** A figure for the tables: thousands separated, fewer decimals the larger it is; "–" when missing. */
export function format(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return "–";
  if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString("en-US");
  if (Math.abs(value) >= 100) return value.toFixed(0);
  if (Math.abs(value) >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

/** celeriac's advantage as a factor (> 1 is better for celeriac, whichever way the unit points). */
export function advantage(celeriac: number | undefined, other: number | undefined, unit: Unit): number | undefined {
  if (celeriac === undefined || other === undefined || celeriac <= 0 || other <= 0) return undefined;
  return higherIsBetter(unit) ? celeriac / other : other / celeriac;
}

/** The results as a Markdown table (medians), with celeriac's advantage over each peer. */
export function table(results: readonly ResultRow[]): string {
  const lines = ["| scenario | unit | celeriac | bullmq | celery | vs bullmq | vs celery |", "|---|---|--:|--:|--:|--:|--:|"];
  for (const [scenario, unit, detail] of ROW_ORDER) {
    const values = SYSTEMS.map((system) => find(results, system, scenario, unit, detail)?.value);
    if (values.every((v) => v === undefined)) continue;
    const ratio = (other: number | undefined): string => {
      const factor = advantage(values[0], other, unit);
      return factor === undefined ? "–" : `${factor.toFixed(2)}x`;
    };
    const name = detail ? `${scenario} (${detail})` : scenario;
    lines.push(`| ${name} | ${unit} | ${values.map(format).join(" | ")} | ${ratio(values[1])} | ${ratio(values[2])} |`);
  }
  return lines.join("\n");
}

const COLORS: Record<SystemName, string> = { celeriac: "#2e7d32", bullmq: "#c62828", celery: "#1565c0" };
const escape = (text: string): string => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** A grid of small horizontal-bar panels, one per headline figure, each on its own linear scale. */
export function svgChart(report: Report): string {
  const panels: [string, Scenario, Unit, string?][] = [
    ["enqueue, awaited (tasks/s)", "enqueue", "tasks/s"],
    ["bulk enqueue (tasks/s)", "enqueue_bulk", "tasks/s"],
    ["drain, 1 process (tasks/s)", "drain", "tasks/s"],
    ["drain, 2 processes (tasks/s)", "drain_2proc", "tasks/s"],
    ["drain, results on (tasks/s)", "drain_results", "tasks/s"],
    ["round trip p50 (ms, lower is better)", "roundtrip", "ms_p50"],
    ["round trip p99 (ms, lower is better)", "roundtrip", "ms_p99"],
    ["Redis CPU, drain (µs/task, lower is better)", "redis_cpu", "us/task", "drain"],
    ["Redis memory per queued task (bytes)", "memory", "bytes/task"],
  ];
  const width = 330;
  const height = 120;
  const columns = 3;
  const top = 70;
  const out: string[] = [];
  panels.forEach(([title, scenario, unit, detail], index) => {
    const x = (index % columns) * width + 10;
    const y = Math.floor(index / columns) * height + top;
    const rows = SYSTEMS.map((system) => ({ system, value: find(report.results, system, scenario, unit, detail)?.value }));
    const max = Math.max(...rows.map((r) => r.value ?? 0), 1e-9);
    out.push(`<text x="${x}" y="${y}" font-size="12" font-weight="bold">${escape(title)}</text>`);
    rows.forEach(({ system, value }, i) => {
      const barY = y + 10 + i * 26;
      const barWidth = value === undefined ? 0 : Math.max(1, (value / max) * 170);
      out.push(`<text x="${x}" y="${barY + 14}" font-size="11">${system}</text>`);
      out.push(`<rect x="${x + 62}" y="${barY + 2}" width="${barWidth.toFixed(1)}" height="16" fill="${COLORS[system]}"/>`);
      out.push(`<text x="${x + 66 + barWidth}" y="${barY + 14}" font-size="11">${value === undefined ? "n/a" : escape(format(value))}</text>`);
    });
  });
  const rowsOfPanels = Math.ceil(panels.length / columns);
  const svgWidth = columns * width + 10;
  const svgHeight = top + rowsOfPanels * height;
  const m = report.machine;
  const subtitle = `${m.cores} cores, ${m.cpuModel}; node ${report.versions["node"] ?? "?"}, redis ${report.versions["redis"] ?? "?"}, bullmq ${report.versions["bullmq"] ?? "?"}, celery ${report.versions["celery"] ?? "n/a"}; medians of ${String(report.settings["runs"] ?? "?")} runs`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${svgWidth}" height="${svgHeight}" viewBox="0 0 ${svgWidth} ${svgHeight}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="10" y="24" font-size="16" font-weight="bold">Celeriac vs BullMQ vs Celery on one Redis (${escape(report.date.slice(0, 10))})</text>`,
    `<text x="10" y="44" font-size="11" fill="#555">${escape(subtitle)}</text>`,
    ...out,
    `</svg>`,
    "",
  ].join("\n");
}
