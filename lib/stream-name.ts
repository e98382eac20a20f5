import crypto from 'node:crypto';

/** Signed tokens longer than this are refused before any work is done on them. */
export const MAX_TOKEN_LENGTH = 1024;

/**
 * What a valid token says: the stream name, when it expires, and the broker position of the
 * render that signed it, before which nothing is replayed.
 */
export interface VerifiedStreamName {
  name: string;
  expiresAt: number | null;
  after: string | null;
}

/** How a token is made: `ttl` in milliseconds, `after` the broker position of the render. */
export interface SignOptions {
  ttl?: number | null;
  after?: string | null;
  now?: number;
}

/**
 * Put before every signed payload: a token signs a stream name for turbo-express and nothing
 * else, so that no other value signed with the same secret (a signed cookie made by the same
 * HMAC construction) passes for one, nor a token for something else.
 */
const PURPOSE = 'turbo-express:stream-name:1\0';

/**
 * Signs stream names so that a page can only subscribe to the streams the server rendered for it.
 * A token is `base64url(payload).base64url(hmac-sha256(secret, PURPOSE + base64url(payload)))`,
 * where the payload is the JSON `["<name>", <expiry in ms since the epoch> or null, "<position>"
 * or null]`, trailing nulls left out. Any name, whatever characters it holds, comes out as
 * URL-safe text without `/`, `.` or line breaks.
 */
export class StreamNameSigner {
  private readonly secret: string;

  constructor(secret: string) {
    this.secret = secret;
  }

  /** Signs `name`; with `ttl` the token stops verifying that long from now. */
  sign(name: string, { ttl = null, after = null, now = Date.now() }: SignOptions = {}): string {
    const fields: unknown[] = [name, ttl === null ? null : now + ttl, after];
    while (fields.length > 1 && fields[fields.length - 1] === null) fields.pop();
    const encoded = Buffer.from(JSON.stringify(fields)).toString('base64url');
    return `${encoded}.${this.digest(encoded)}`;
  }

  /** Returns what a token says, or `null` when it is malformed, tampered with or expired. */
  verify(token: string, now = Date.now()): VerifiedStreamName | null {
    if (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH) return null;
    const dot = token.indexOf('.');
    if (dot <= 0 || dot !== token.lastIndexOf('.')) return null;

    const encoded = token.slice(0, dot);
    // Compared as text: decoding base64url first would skip stray characters and accept many
    // spellings of one signature.
    const given = Buffer.from(token.slice(dot + 1));
    const expected = Buffer.from(this.digest(encoded));
    if (given.length !== expected.length || !crypto.timingSafeEqual(given, expected)) return null;

    const payload = parsePayload(Buffer.from(encoded, 'base64url').toString());
    if (payload === null) return null;
    if (payload.expiresAt !== null && payload.expiresAt <= now) return null;
    return payload;
  }

  private digest(encoded: string): string {
    return crypto
      .createHmac('sha256', this.secret)
      .update(PURPOSE)
      .update(encoded)
      .digest('base64url');
  }
}

function parsePayload(json: string): VerifiedStreamName | null {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return null; // Only reachable with a valid signature over garbage: treat as tampered.
  }
  if (!Array.isArray(value) || typeof value[0] !== 'string' || value.length > 3) return null;
  const [name, expiresAt = null, after = null] = value as unknown[];
  if (expiresAt !== null && !Number.isFinite(expiresAt)) return null;
  if (after !== null && typeof after !== 'string') return null;
  return {
    name: name as string,
    expiresAt: expiresAt as number | null,
    after: after as string | null,
  };
}
