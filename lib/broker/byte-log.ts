/**
 * The fewest bytes a log's buffer holds, so that small messages do not regrow it each time, yet
 * a stream that published one short message holds little more than it.
 */
const MIN_CAPACITY = 64;

/** Where a log without a message points: no buffer of its own until its first message. */
const EMPTY = Buffer.alloc(0);

/** Numbers kept per entry in `meta`: seq, publish time, byte offset, byte length. */
const FIELDS = 4;

/** One message read back from a {@link ByteLog}. */
export interface LoggedMessage {
  readonly seq: number;
  readonly data: string;
}

/**
 * The messages of one stream, oldest first, kept as UTF-8 bytes in one buffer with their numbers
 * in a typed array: a message held for replay is no object of the JavaScript heap. Held as
 * strings, each one lived long enough to be moved to the old generation, and those full
 * collections cost more per broadcast than the rest of the broker.
 *
 * The bytes of the entries lie one after another in `bytes`, from `start` to `end`. Appending
 * writes at `end`; dropping the oldest moves `start`. When the end is reached, the held bytes
 * move to the front of the buffer, or into a new buffer twice as large as they are when they would
 * fill more than three quarters of this one. Nothing shrinks as messages come and go, so a
 * steady stream allocates nothing but the bytes it writes; `compact()`, which the broker calls
 * on its periodic sweep, gives back what a burst of large messages left.
 *
 * A message is decoded when a replay first asks for it, and the text is kept with it until the
 * next `compact()`, within the budget the replay is given: a reconnecting crowd decodes each
 * message once, not once per client.
 */
export class ByteLog {
  /** Replay after a seq below this cannot be proven whole; see the memory broker. */
  lostUpTo: number;
  private bytes = EMPTY;
  private start = 0;
  private end = 0;
  /** A ring of entries, `FIELDS` numbers each; `first` is the oldest, `count` are held. */
  private meta = new Float64Array(FIELDS);
  /** The decoded text of the entry in the same place of the ring, once a replay asked for it. */
  private texts: (string | undefined)[] = [undefined];
  private first = 0;
  private count = 0;
  /** UTF-8 bytes of the messages whose decoded text is kept in `texts`. */
  private textBytes = 0;

  constructor(lostUpTo: number) {
    this.lostUpTo = lostUpTo;
  }

  /** How many messages are held. */
  get length(): number {
    return this.count;
  }

  /** Bytes of message data held. */
  get heldBytes(): number {
    return this.end - this.start;
  }

  /** UTF-8 bytes of the messages whose decoded text is kept. */
  get keptTextBytes(): number {
    return this.textBytes;
  }

  /** Bytes of the buffer the data is held in. */
  get capacity(): number {
    return this.bytes.length;
  }

  /** The seq of the newest message, or `lostUpTo` when none is held. */
  get newestSeq(): number {
    return this.count === 0 ? this.lostUpTo : this.field(this.count - 1, 0);
  }

  /** When the oldest message was published (`Date.now()`), or `Infinity` when none is held. */
  get oldestAt(): number {
    return this.count === 0 ? Infinity : this.field(0, 1);
  }

  /** Appends a message; returns the bytes it takes. */
  push(seq: number, at: number, data: string): number {
    const length = Buffer.byteLength(data);
    if (this.end + length > this.bytes.length) this.moveBytes(length);
    this.bytes.write(data, this.end, length, 'utf8');
    if (this.count === this.texts.length) this.growRing();
    const place = (this.first + this.count) % this.texts.length;
    const slot = place * FIELDS;
    this.meta[slot] = seq;
    this.meta[slot + 1] = at;
    this.meta[slot + 2] = this.end;
    this.meta[slot + 3] = length;
    this.texts[place] = undefined;
    this.count += 1;
    this.end += length;
    return length;
  }

  /** Drops the oldest message, which `lostUpTo` then covers; returns its bytes. */
  dropOldest(): number {
    const seq = this.field(0, 0);
    const length = this.field(0, 3);
    if (this.texts[this.first] !== undefined) this.textBytes -= length;
    this.texts[this.first] = undefined;
    this.first = (this.first + 1) % this.texts.length;
    this.count -= 1;
    this.lostUpTo = Math.max(this.lostUpTo, seq);
    this.start = this.count === 0 ? 0 : this.field(0, 2);
    if (this.count === 0) this.end = 0;
    return length;
  }

  /** Notes that the message `seq` was published and not kept: replay after it has a gap. */
  skip(seq: number): void {
    this.lostUpTo = Math.max(this.lostUpTo, seq);
  }

  /**
   * Forgets the decoded texts, and moves the held bytes into a buffer twice their size when they
   * fill less than a quarter of this one (an empty log keeps no buffer).
   */
  compact(): void {
    this.texts.fill(undefined);
    this.textBytes = 0;
    if (this.count === 0) {
      this.bytes = EMPTY;
    } else if (
      this.bytes.length > MIN_CAPACITY &&
      (this.end - this.start) * 4 < this.bytes.length
    ) {
      this.moveBytes(0, true);
    }
  }

  /**
   * Every message with a seq above `after`, oldest first, decoded. Texts are kept for the next
   * replay as long as those kept by this call add up to at most `keepBudget` bytes.
   */
  after(after: number, keepBudget = 0): LoggedMessage[] {
    let budget = keepBudget;
    const found: LoggedMessage[] = [];
    for (let i = 0; i < this.count; i++) {
      const seq = this.field(i, 0);
      if (seq <= after) continue;
      const place = (this.first + i) % this.texts.length;
      let data = this.texts[place];
      if (data === undefined) {
        const offset = this.field(i, 2);
        const length = this.field(i, 3);
        data = this.bytes.toString('utf8', offset, offset + length);
        if (length <= budget) {
          budget -= length;
          this.texts[place] = data;
          this.textBytes += length;
        }
      }
      found.push({ seq, data });
    }
    return found;
  }

  /** The `field`th number of the `index`th oldest entry. */
  private field(index: number, field: number): number {
    return this.meta[((this.first + index) % this.texts.length) * FIELDS + field];
  }

  /**
   * Moves the held bytes to the front, to make room for `length` more: into a new buffer twice as
   * large as they are with those when that would fill more than three quarters of this one, or
   * when `resize` asks for it.
   */
  private moveBytes(length: number, resize = false): void {
    const held = this.end - this.start;
    const needed = held + length;
    let target = this.bytes;
    if (resize || needed * 4 > this.bytes.length * 3) {
      target = Buffer.allocUnsafeSlow(Math.max(MIN_CAPACITY, needed * 2));
    }
    this.bytes.copy(target, 0, this.start, this.end);
    this.bytes = target;
    for (let i = 0; i < this.count; i++) {
      this.meta[((this.first + i) % this.texts.length) * FIELDS + 2] -= this.start;
    }
    this.end = held;
    this.start = 0;
  }

  /** Doubles the ring, its oldest entry first. */
  private growRing(): void {
    const places = this.texts.length;
    const meta = new Float64Array(places * 2 * FIELDS);
    const texts: (string | undefined)[] = new Array<string | undefined>(places * 2).fill(undefined);
    for (let i = 0; i < this.count; i++) {
      const from = (this.first + i) % places;
      meta.set(this.meta.subarray(from * FIELDS, from * FIELDS + FIELDS), i * FIELDS);
      texts[i] = this.texts[from];
    }
    this.meta = meta;
    this.texts = texts;
    this.first = 0;
  }
}
