// The ids this worker was told to revoke, bounded in size and age so a long-lived worker does not
// grow without limit (Celery keeps 50,000 for 3 hours by default; so do we).
export class RevokedSet {
  private readonly ids = new Map<string, number>();

  constructor(
    private readonly maxSize = 50_000,
    private readonly maxAgeMs = 3 * 3600 * 1000,
  ) {}

  add(id: string): void {
    this.ids.delete(id);
    this.ids.set(id, Date.now());
    if (this.ids.size > this.maxSize) {
      const oldest = this.ids.keys().next().value;
      if (oldest !== undefined) this.ids.delete(oldest);
    }
  }

  has(id: string): boolean {
    if (this.ids.size === 0) return false;
    const at = this.ids.get(id);
    if (at === undefined) return false;
    if (Date.now() - at > this.maxAgeMs) {
      this.ids.delete(id);
      return false;
    }
    return true;
  }
}
