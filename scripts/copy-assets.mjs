// Copies the non-TypeScript files the library reads at run time (the Redis Lua scripts) into the build
// directory (dist/, or the one given as the first argument), beside the compiled modules that load
// them through import.meta.url.
import { cpSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";

const assetExtensions = [".lua"];
const outDir = process.argv[2] ?? "dist";

function copyAssets(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) copyAssets(path);
    else if (assetExtensions.some((ext) => name.endsWith(ext))) cpSync(path, join(outDir, relative("src", path)));
  }
}

copyAssets("src");
