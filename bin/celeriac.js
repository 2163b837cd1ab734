#!/usr/bin/env node
// Entry point of the `celeriac` command. It registers tsx's loader first, so that users' task modules
// written in TypeScript load directly (no compile step), then runs the CLI from source.
import { register } from "tsx/esm/api";

register();
const { main } = await import("../src/cli/main.ts");
await main(process.argv);
