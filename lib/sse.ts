/**
 * Server-Sent Events wire encoding, with no I/O. Turbo's `<turbo-stream-source>` listens for
 * unnamed `message` events only, so no frame here ever carries an `event:` field.
 */

const LINE_BREAK = /\r\n|\r|\n/;
const FORBIDDEN_IN_ID = /[\r\n\0]/;

/**
 * Encodes one message event: an `id:` line, then one `data:` line per line of `data` (split on CR,
 * LF and CRLF, as the SSE spec reads them), then the blank line that dispatches the event.
 * Throws when `id` holds a line break or NUL, which would forge fields or be ignored by clients.
 */
export function encodeEvent(id: string | null, data: string): Buffer {
  if (id !== null && FORBIDDEN_IN_ID.test(id)) {
    throw new TypeError('An SSE event id must not contain CR, LF or NUL');
  }
  const idLine = id === null ? '' : `id: ${id}\n`;
  // Most HTML is one line: a split would copy all of it for nothing.
  const isOneLine = data.indexOf('\n') === -1 && data.indexOf('\r') === -1;
  const dataLines = isOneLine ? data : data.split(LINE_BREAK).join('\ndata: ');
  return Buffer.from(`${idLine}data: ${dataLines}\n\n`);
}

/** Encodes an SSE comment, which clients ignore: used for heartbeats. */
export function encodeComment(text = ''): Buffer {
  return Buffer.from(`:${text.replace(/[\r\n]+/g, ' ')}\n\n`);
}

/** Encodes the `retry:` hint telling clients how many milliseconds to wait before reconnecting. */
export function encodeRetry(milliseconds: number): Buffer {
  return Buffer.from(`retry: ${Math.max(0, Math.floor(milliseconds))}\n\n`);
}
