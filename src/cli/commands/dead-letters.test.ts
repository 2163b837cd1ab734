// The purge confirmation of `celeriac dead-letters`: asked on a terminal (only "y"/"yes" confirm), and
// refused at once, reading nothing, when standard input is not a terminal.
import { test } from "node:test";
import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { confirm, runDeadLettersPurge, type Terminal } from "./dead-letters.ts";

function terminal(isTTY: boolean, answer: string | null): Terminal & { written: () => string } {
  const input = Object.assign(new PassThrough(), { isTTY });
  const output = new PassThrough();
  let written = "";
  output.on("data", (chunk: Buffer) => (written += chunk.toString()));
  if (answer !== null) input.end(answer);
  return { input, output, written: () => written };
}

test("on a terminal, only y or yes confirms", async () => {
  for (const [answer, expected] of [["y\n", true], ["YES\n", true], ["n\n", false], ["\n", false], ["yesterday\n", false]] as const) {
    const tty = terminal(true, answer);
    assert.equal(await confirm(tty, "Delete? [y/N] "), expected, `answer ${JSON.stringify(answer)}`);
    assert.match(tty.written(), /Delete\? \[y\/N\] /);
  }
});

test("without a terminal, purge refuses before connecting and without waiting for input", async () => {
  // Never answered: a purge that read stdin would hang here until the test timed out.
  const pipe = terminal(false, null);
  // An unreachable broker: refusing must come first, without any connection attempt.
  const purging = runDeadLettersPurge({ broker: "redis://127.0.0.1:1/0", force: false }, pipe);
  await assert.rejects(purging, (error: unknown) => error instanceof Error && "code" in error && error.code === "CONFIRMATION_REQUIRED" && /--force/.test(error.message));
  await assert.rejects(confirm(pipe, "Delete? "), /not a terminal/);
  assert.equal(pipe.written(), "");
});
