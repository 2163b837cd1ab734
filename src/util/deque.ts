// A FIFO queue with O(1) push, shift and unshift, for in-process message buffers (Array#shift is O(n)).

export class Deque<T> {
  private items: (T | undefined)[] = new Array(16);
  private head = 0;
  private count = 0;

  get length(): number {
    return this.count;
  }

  push(item: T): void {
    if (this.count === this.items.length) this.grow();
    this.items[(this.head + this.count) % this.items.length] = item;
    this.count++;
  }

  unshift(item: T): void {
    if (this.count === this.items.length) this.grow();
    this.head = (this.head - 1 + this.items.length) % this.items.length;
    this.items[this.head] = item;
    this.count++;
  }

  shift(): T | undefined {
    if (this.count === 0) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = (this.head + 1) % this.items.length;
    this.count--;
    return item;
  }

  /** The first `limit` items, front first, left in place. */
  peek(limit: number): T[] {
    const out: T[] = [];
    for (let i = 0; i < Math.min(limit, this.count); i++) out.push(this.items[(this.head + i) % this.items.length] as T);
    return out;
  }

  clear(): number {
    const removed = this.count;
    this.items = new Array(16);
    this.head = 0;
    this.count = 0;
    return removed;
  }

  private grow(): void {
    const bigger: (T | undefined)[] = new Array(this.items.length * 2);
    for (let i = 0; i < this.count; i++) bigger[i] = this.items[(this.head + i) % this.items.length];
    this.items = bigger;
    this.head = 0;
  }
}
