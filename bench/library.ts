// The library as users run it: the harness compiles src/ to JavaScript once per run (as the published
// package ships it, no TypeScript loader in the hot path) into a private directory, and the Celeriac
// agents import it from there (CELERIAC_BENCH_LIB). Without it (an agent started by hand) they
// import src/ through tsx.
import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const repoDir = fileURLToPath(new URL("..", import.meta.url));
export const LIBRARY_ENV = "CELERIAC_BENCH_LIB";

/** Compile the library into .bench/lib-<pid> and point the agents at it; returns a function removing it. */
export function buildLibrary(log: (line: string) => void): () => void {
  const outDir = join(repoDir, ".bench", `lib-${process.pid}`);
  const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
  const started = Date.now();
  execFileSync(process.execPath, [tsc, "-p", "tsconfig.build.json", "--outDir", outDir, "--declaration", "false", "--sourceMap", "false"], { cwd: repoDir, stdio: "inherit" });
  execFileSync(process.execPath, ["scripts/copy-assets.mjs", outDir], { cwd: repoDir, stdio: "inherit" });
  process.env[LIBRARY_ENV] = pathToFileURL(join(outDir, "index.js")).href;
  log(`compiled the library to ${outDir} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  const remove = (): void => rmSync(outDir, { recursive: true, force: true });
  process.on("exit", remove); // also when a signal ends the run
  return remove;
}
