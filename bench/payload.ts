/** What the load generator POSTs to /broadcast: the server turns it into one HTML message. */
export interface BroadcastRequest {
  /** Sequence number, unique per load generator. */
  seq: number;
  /** Intended send time (wall-clock ms); echoed back so the receiver can compute latency. */
  t: number;
  /** Target size of the HTML payload in bytes. */
  size: number;
  /**
   * Messages to produce from this one request, with seqs `seq` .. `seq + count - 1`, all in the
   * same turn of the event loop (one write transaction for contestants with a database).
   * Defaults to 1.
   */
  count?: number;
}

/** Every contestant's message must contain this marker so sampled subscribers can time it. */
export const MARKER_PATTERN = /data-seq="(\d+)" data-t="([\d.]+)"/g;

export function isBroadcastRequest(value: unknown): value is BroadcastRequest {
  const v = value as Partial<BroadcastRequest> | null;
  return (
    typeof v === 'object' &&
    v !== null &&
    Number.isFinite(v.seq) &&
    Number.isFinite(v.t) &&
    Number.isFinite(v.size) &&
    (v.count === undefined || (Number.isSafeInteger(v.count) && v.count >= 1 && v.count <= 1000))
  );
}

/**
 * A single-line Turbo Stream of about `size` bytes. Single-line keeps the SSE framing identical
 * across contestants (one `data:` line per message).
 */
export function buildHtml({ seq, t, size }: BroadcastRequest): string {
  const open =
    `<turbo-stream action="append" target="messages"><template>` +
    `<div id="m${seq}" data-seq="${seq}" data-t="${t}">`;
  const close = `</div></template></turbo-stream>`;
  const padding = Math.max(0, size - open.length - close.length);
  return open + 'x'.repeat(padding) + close;
}
