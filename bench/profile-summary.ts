// Summarises a V8 .cpuprofile (node --cpu-prof, e.g. from `npm run bench -- --profile DIR`): self time
// by area (our src/ folders, ioredis, Node internals, GC, idle) and the costliest functions.
// Run: node --import tsx bench/profile-summary.ts FILE.cpuprofile [top=25]
import { readFileSync } from "node:fs";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** The area a function belongs to, for the summary. */
export function areaOf(url: string, functionName: string): string {
  if (functionName === "(idle)") return "idle (waiting on I/O)";
  if (functionName === "(garbage collector)") return "garbage collector";
  if (functionName === "(program)") return "V8/native (program)";
  // src/ run through tsx, or the compiled copy the harness builds (.bench/lib-<pid>/, bench/library.ts).
  const src = /\/(?:src|\.bench\/lib-\d+)\/([^/]+(?:\/[^/]+)?)\//.exec(url);
  if (src && !url.includes("node_modules")) return `src/${src[1]}`;
  const srcFile = /\/(?:src|\.bench\/lib-\d+)\/([^/]+)\.[tj]s$/.exec(url);
  if (srcFile && !url.includes("node_modules")) return "src";
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1] as string;
  if (url.includes("/bench/")) return "bench (agent)";
  if (url.startsWith("node:") || url === "") return "node internals";
  return "other";
}

export interface Summary {
  totalMs: number;
  busyMs: number;
  areas: { area: string; ms: number; share: number }[];
  functions: { name: string; where: string; area: string; ms: number; share: number }[];
}

export function summarise(profile: CpuProfile, top = 25): Summary {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000));
  const areas = new Map<string, number>();
  const functions = new Map<string, { name: string; where: string; area: string; ms: number }>();
  let totalMs = 0;
  for (const [id, ms] of self) {
    const frame = byId.get(id)?.callFrame;
    if (!frame) continue;
    totalMs += ms;
    const area = areaOf(frame.url, frame.functionName);
    areas.set(area, (areas.get(area) ?? 0) + ms);
    const where = `${frame.url.replace(/^.*\/(src|bench|node_modules)\//, "$1/")}:${frame.lineNumber + 1}`;
    const key = `${frame.functionName}@${where}`;
    const entry = functions.get(key) ?? { name: frame.functionName || "(anonymous)", where, area, ms: 0 };
    entry.ms += ms;
    functions.set(key, entry);
  }
  const idle = areas.get("idle (waiting on I/O)") ?? 0;
  const busyMs = totalMs - idle;
  const share = (ms: number): number => Math.round((ms / Math.max(busyMs, 1e-9)) * 1000) / 10;
  return {
    totalMs,
    busyMs,
    areas: [...areas].map(([area, ms]) => ({ area, ms, share: share(ms) })).sort((a, b) => b.ms - a.ms),
    functions: [...functions.values()].filter((f) => f.area !== "idle (waiting on I/O)").sort((a, b) => b.ms - a.ms).slice(0, top).map((f) => ({ ...f, share: share(f.ms) })),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [file, topArg] = process.argv.slice(2);
  if (!file) throw new Error("usage: profile-summary.ts FILE.cpuprofile [top]");
  const summary = summarise(JSON.parse(readFileSync(file, "utf8")) as CpuProfile, Number(topArg ?? 25));
  console.log(`profile ${file}: ${summary.totalMs.toFixed(0)} ms sampled, ${summary.busyMs.toFixed(0)} ms busy (shares below are of busy time)`);
  console.log("\nby area:");
  for (const a of summary.areas) console.log(`  ${a.share.toFixed(1).padStart(5)}%  ${a.ms.toFixed(0).padStart(6)} ms  ${a.area}`);
  console.log("\ncostliest functions (self time):");
  for (const f of summary.functions) console.log(`  ${f.share.toFixed(1).padStart(5)}%  ${f.ms.toFixed(0).padStart(6)} ms  ${f.name}  (${f.where})`);
}
