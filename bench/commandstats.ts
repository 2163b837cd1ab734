// Redis CPU per task from INFO commandstats, without double counting: a command run inside a Lua script
// is counted both on its own line and in the script's EVALSHA time. A short calibration run under
// MONITOR (which marks script-run commands "lua") gives each command's nested share per phase; a
// measured run's top-level time is then the sum of each command's usec times its top-level share.
import type { CommandStat } from "./redis-server.ts";
import { fillAndDrain, type Ctx, type Sizes, type StatsSample } from "./scenarios.ts";
import type { SystemDriver } from "./systems/index.ts";

/** phase -> command -> calls seen under MONITOR, and how many of them came from a script. */
export type NestedShares = Map<string, Map<string, { calls: number; lua: number }>>;

// Commands whose commandstats name includes the subcommand ("client|list").
const CONTAINERS = new Set(["client", "config", "script", "command", "object", "memory", "xinfo", "function", "acl", "latency", "slowlog", "cluster", "module", "pubsub"]);

function commandName(args: readonly string[]): string {
  const name = (args[0] ?? "").toLowerCase();
  return CONTAINERS.has(name) && args[1] ? `${name}|${args[1].toLowerCase()}` : name;
}

/** One small fill + drain, results off then on, with every command recorded under MONITOR. */
export async function calibrate(ctx: Ctx, sys: SystemDriver, sizes: Sizes): Promise<NestedShares> {
  const shares: NestedShares = new Map();
  let phase = "setup";
  const monitor = await ctx.admin.client.monitor();
  monitor.on("monitor", (_time: string, args: string[], source: string) => {
    let byCommand = shares.get(phase);
    if (!byCommand) shares.set(phase, (byCommand = new Map()));
    const name = commandName(args);
    const entry = byCommand.get(name) ?? { calls: 0, lua: 0 };
    entry.calls++;
    if (source === "lua") entry.lua++;
    byCommand.set(name, entry);
  });
  try {
    const calibrating: Ctx = { ...ctx, profileArgs: [], onPhase: (next) => (phase = next) };
    await fillAndDrain(calibrating, sys, sizes, { procs: 1, results: false });
    phase = "setup";
    await fillAndDrain(calibrating, sys, sizes, { procs: 1, results: true });
  } finally {
    monitor.disconnect();
  }
  return shares;
}

/** Commands the harness itself sends during a phase (snapshots, connection counts, the release). */
const HARNESS_COMMANDS = new Set(["info", "client|list", "rename", "monitor"]);

/** A sample's stats without the harness's own commands. */
function systemStats(sample: StatsSample): [string, CommandStat][] {
  return [...sample.stats].filter(([command]) => !HARNESS_COMMANDS.has(command));
}

/** The share of a command's calls made from scripts in a phase (else in any phase; else none). */
function nestedShare(shares: NestedShares | undefined, phase: string, command: string): number {
  const entry = shares?.get(phase)?.get(command) ?? [...(shares?.values() ?? [])].map((m) => m.get(command)).find((e) => e !== undefined);
  return entry && entry.calls > 0 ? entry.lua / entry.calls : 0;
}

/** Top-level commandstats µs per task of one sample. */
export function usecPerTask(sample: StatsSample, shares: NestedShares | undefined): number {
  let usec = 0;
  for (const [command, stat] of systemStats(sample)) usec += stat.usec * (1 - nestedShare(shares, sample.phase, command));
  return usec / sample.tasks;
}

export interface BreakdownRow {
  command: string;
  callsPerTask: number;
  usecPerTask: number;
  /** Share of the calls made inside scripts (their time is inside the script's line too). */
  nestedShare: number;
}

/** Per phase, every command's calls and µs per task over all samples, costliest first. */
export function breakdown(samples: readonly StatsSample[], shares: NestedShares | undefined): Record<string, BreakdownRow[]> {
  const out: Record<string, BreakdownRow[]> = {};
  const phases = [...new Set(samples.map((s) => s.phase))];
  for (const phase of phases) {
    const totals = new Map<string, CommandStat>();
    let tasks = 0;
    for (const sample of samples.filter((s) => s.phase === phase)) {
      tasks += sample.tasks;
      for (const [command, stat] of systemStats(sample)) {
        const total = totals.get(command) ?? { calls: 0, usec: 0 };
        totals.set(command, { calls: total.calls + stat.calls, usec: total.usec + stat.usec });
      }
    }
    out[phase] = [...totals]
      .map(([command, stat]) => ({ command, callsPerTask: round(stat.calls / tasks, 4), usecPerTask: round(stat.usec / tasks, 3), nestedShare: round(nestedShare(shares, phase, command), 3) }))
      .sort((a, b) => b.usecPerTask - a.usecPerTask);
  }
  return out;
}

export function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
