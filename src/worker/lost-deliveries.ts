// Accounts for the deliveries a worker held when their broker connection (or channel) was lost. The
// broker has already taken them back (RabbitMQ requeues a closed channel's unacked messages), so the
// pipeline drops those not started, and those that ran cannot be acknowledged: the broker delivers them
// again, and an acksLate task that ran will run twice (at-least-once). Each loss is reported once, with
// its counts, when the last delivery it affected has been dropped or settled.

/** What became of a stale delivery: dropped before it started, or settled (acked, rejected) too late. */
export type LostOutcome = "dropped" | "unacknowledged";

export interface LossCounts {
  dropped: number;
  unacknowledged: number;
}

/** One loss: how many of its deliveries are still held, and what became of the others. */
export interface LossGroup extends LossCounts {
  pending: number;
}

/** A delivery in the worker's ledger; `loss` is this module's mark, null until its loss is seen. */
export interface LedgerEntry {
  readonly stale: boolean;
  loss: LossGroup | null;
}

/**
 * Groups stale deliveries by loss and reports each loss once. Example:
 * `const losses = new LossAccounting(unsettled, (c) => log(\`${c.dropped} dropped\`)); losses.record(d, "dropped")`.
 */
export class LossAccounting {
  constructor(
    private readonly unsettled: ReadonlySet<LedgerEntry>,
    private readonly report: (counts: LossCounts) => void,
  ) {}

  /** `entry` is stale and leaves the ledger with `outcome`; call before removing it from the ledger. */
  record(entry: LedgerEntry, outcome: LostOutcome): void {
    const group = entry.loss ?? this.open(entry);
    group[outcome]++;
    if (--group.pending === 0) this.report({ dropped: group.dropped, unacknowledged: group.unacknowledged });
  }

  /**
   * The first stale delivery seen since a loss: every stale delivery still held and not yet in a group
   * came from the same loss (one scan of the ledger per loss, nothing on the hot path). Two losses
   * before the first of them is seen make one group.
   */
  private open(first: LedgerEntry): LossGroup {
    const group: LossGroup = { pending: 0, dropped: 0, unacknowledged: 0 };
    const join = (entry: LedgerEntry): void => {
      entry.loss = group;
      group.pending++;
    };
    for (const entry of this.unsettled) if (entry.stale && entry.loss === null) join(entry);
    if (first.loss === null) join(first);
    return group;
  }
}
