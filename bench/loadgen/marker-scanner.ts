/**
 * Latency extraction for the sampled subscribers only: buffer text up to the last complete
 * message and pull `data-seq`/`data-t` markers out of it.
 */
import { MARKER_PATTERN } from '../payload';

export class MarkerScanner {
  private pending = '';

  /** Returns [seq, intendedSendTime] for each message completed by this chunk. */
  scan(chunk: Buffer): Array<[number, number]> {
    this.pending += chunk.toString('latin1');
    const end = this.pending.lastIndexOf('\n\n');
    if (end === -1) return [];
    const complete = this.pending.slice(0, end);
    this.pending = this.pending.slice(end + 2);
    const found: Array<[number, number]> = [];
    for (const match of complete.matchAll(MARKER_PATTERN)) {
      found.push([Number(match[1]), Number(match[2])]);
    }
    return found;
  }
}
