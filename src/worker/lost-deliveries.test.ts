// LossAccounting: stale deliveries grouped per loss, each loss reported once with its counts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { LossAccounting, type LedgerEntry, type LossCounts } from "./lost-deliveries.ts";

function entry(stale: boolean): LedgerEntry {
  return { stale, loss: null };
}

/** A ledger as the worker keeps it: an entry leaves after it is recorded. */
function setup(): { ledger: Set<LedgerEntry>; reports: LossCounts[]; leave: (e: LedgerEntry, outcome: "dropped" | "unacknowledged") => void } {
  const ledger = new Set<LedgerEntry>();
  const reports: LossCounts[] = [];
  const losses = new LossAccounting(ledger, (counts) => reports.push(counts));
  return {
    ledger,
    reports,
    leave: (e, outcome) => {
      losses.record(e, outcome);
      ledger.delete(e);
    },
  };
}

test("a loss is reported once, after the last of its deliveries is dropped or settled", () => {
  const { ledger, reports, leave } = setup();
  const [a, b, c] = [entry(true), entry(true), entry(true)];
  const live = entry(false);
  for (const e of [a, b, c, live]) ledger.add(e);
  leave(b, "dropped");
  leave(a, "dropped");
  assert.deepEqual(reports, [], "not before every delivery of the loss is accounted for");
  leave(c, "unacknowledged");
  assert.deepEqual(reports, [{ dropped: 2, unacknowledged: 1 }]);
  assert.equal(live.loss, null, "a live delivery is in no loss");
});

test("a later loss is reported on its own", () => {
  const { ledger, reports, leave } = setup();
  const first = entry(true);
  ledger.add(first);
  leave(first, "dropped");
  const later = [entry(true), entry(true)];
  for (const e of later) ledger.add(e);
  for (const e of later) leave(e, "dropped");
  assert.deepEqual(reports, [
    { dropped: 1, unacknowledged: 0 },
    { dropped: 2, unacknowledged: 0 },
  ]);
});

test("a stale delivery already out of the ledger still makes a loss of its own", () => {
  const { reports, leave } = setup();
  leave(entry(true), "unacknowledged");
  assert.deepEqual(reports, [{ dropped: 0, unacknowledged: 1 }]);
});
