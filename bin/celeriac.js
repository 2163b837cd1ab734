#!/usr/bin/env node
// Entry point of the `celeriac` command. It registers tsx's loader first, so that users' task modules
// written in TypeScript load directly (no compile step). The library itself runs from the compiled
// dist/ in an installed package (no src/ there), and from src/ in a checkout of the repository, so a
// developer never runs a stale build.
import { existsSync } from "node:fs";
import { register } from "tsx/esm/api";

register();
const source = new URL("../src/cli/main.ts", import.meta.url);
const { main } = existsSync(source) ? await import(source.href) : await import("../dist/cli/main.js");
await main(process.argv);
