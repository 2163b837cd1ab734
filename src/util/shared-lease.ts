// Process-wide sharing of one resource per key (a connection per server), handed out as leases: the
// first lease creates it, the last release closes it. Used by the Redis and AMQP connection layers.

/** A share of a resource; release() once, and the last holder's release closes it. */
export interface Lease<T> {
  readonly resource: T;
  release(): Promise<void>;
}

export class SharedResources<T> {
  private readonly entries = new Map<string, { resource: T; holders: number }>();

  /** `usable`: false for a resource that is dead for good (its holders keep it until they release it). */
  constructor(
    private readonly close: (resource: T) => Promise<void>,
    private readonly usable: (resource: T) => boolean = () => true,
  ) {}

  /** Lease the resource for `key`, creating it with `make` if nobody holds a usable one. */
  lease(key: string, make: () => T): Lease<T> {
    let entry = this.entries.get(key);
    if (!entry || !this.usable(entry.resource)) {
      entry = { resource: make(), holders: 0 };
      this.entries.set(key, entry);
    }
    entry.holders++;
    const held = entry;
    let released = false;
    return {
      resource: held.resource,
      release: async () => {
        if (released) return;
        released = true;
        if (--held.holders > 0) return;
        if (this.entries.get(key) === held) this.entries.delete(key);
        await this.close(held.resource);
      },
    };
  }
}
