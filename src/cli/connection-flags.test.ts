// The --broker and --backend flags as config overrides: `--backend none` disables results in every command.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connectionOverrides } from "./connection-flags.ts";

test("--backend none is a null resultBackend; URLs pass through; absent flags override nothing", () => {
  assert.deepEqual(connectionOverrides({ backend: "none" }), { resultBackend: null });
  assert.deepEqual(connectionOverrides({ broker: "redis://h/0", backend: "redis://h/1" }), { brokerUrl: "redis://h/0", resultBackend: "redis://h/1" });
  assert.deepEqual(connectionOverrides({}), {});
});
