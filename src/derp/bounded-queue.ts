/**
 * A fixed-capacity FIFO queue that drops its oldest item to make room, so that a client which
 * reads slowly gets the freshest packets and costs at most `capacity` items of memory.
 */
export class BoundedQueue<T> {
  private readonly items: Array<T | undefined>;
  private head = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`BoundedQueue: capacity ${capacity} is not a positive integer`);
    this.items = new Array<T | undefined>(capacity);
  }

  get length(): number {
    return this.count;
  }

  /** Appends an item. When the queue is full, removes the oldest item first and returns it. */
  push(item: T): T | undefined {
    let dropped: T | undefined;
    if (this.count === this.capacity) dropped = this.shift();
    this.items[(this.head + this.count) % this.capacity] = item;
    this.count += 1;
    return dropped;
  }

  /** Removes and returns the oldest item, or undefined when the queue is empty. */
  shift(): T | undefined {
    if (this.count === 0) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = (this.head + 1) % this.capacity;
    this.count -= 1;
    return item;
  }

  /** Removes every item and returns them, oldest first. */
  drain(): T[] {
    const all: T[] = [];
    for (let item = this.shift(); item !== undefined; item = this.shift()) all.push(item);
    return all;
  }
}
