/**
 * Cheap SSE accounting: one message is one `data:` line (every contestant sends its HTML on one
 * line), so counting "\ndata:" counts messages, and frames that carry no event (`retry:`,
 * comments) are not counted. The scan is a native Buffer.indexOf, cheap enough for thousands of
 * sockets. A data line always follows a "\n": the previous frame's blank line, an `id:` line, or
 * the "\r\n" of an HTTP chunk header or of the response head.
 */
const DATA_LINE = Buffer.from('\ndata:');
const CARRY = DATA_LINE.length - 1;

/** Counts data lines across the chunks of one response, including those split between chunks. */
export class DataLineCounter {
  /** The last bytes of the previous chunk; starts as the "\n" that ends the response head. */
  private readonly tail = Buffer.alloc(CARRY * 2);
  private tailLength = 1;

  constructor() {
    this.tail[0] = 0x0a;
  }

  /** Returns the data lines completed by `chunk`. `chunk` may be reused after this returns. */
  count(chunk: Buffer): number {
    let count = 0;
    if (this.tailLength > 0) {
      // Only matches straddling the boundary: the tail is shorter than the pattern.
      const head = Math.min(CARRY, chunk.length);
      chunk.copy(this.tail, this.tailLength, 0, head);
      const joint = this.tail.subarray(0, this.tailLength + head);
      for (let i = joint.indexOf(DATA_LINE); i !== -1; i = joint.indexOf(DATA_LINE, i + 1)) {
        if (i < this.tailLength) count++;
      }
    }
    for (let i = chunk.indexOf(DATA_LINE); i !== -1; i = chunk.indexOf(DATA_LINE, i + 1)) count++;
    this.keepTail(chunk);
    return count;
  }

  private keepTail(chunk: Buffer): void {
    if (chunk.length >= CARRY) {
      chunk.copy(this.tail, 0, chunk.length - CARRY);
      this.tailLength = CARRY;
      return;
    }
    // A chunk shorter than the pattern: append it to what is kept, keeping the last CARRY bytes.
    const joined = Buffer.concat([this.tail.subarray(0, this.tailLength), chunk]);
    const start = Math.max(0, joined.length - CARRY);
    joined.copy(this.tail, 0, start);
    this.tailLength = joined.length - start;
  }
}
