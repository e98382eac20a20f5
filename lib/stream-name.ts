import crypto from 'node:crypto';

/** Signed tokens longer than this are refused before any work is done on them. */
export const MAX_TOKEN_LENGTH = 1024;

/** What a valid token says: the stream name and, when it has one, when it expires. */
export interface VerifiedStreamName {
  name: string;
  expiresAt: number | null;
}

/**
 * Signs stream names so that a page can only subscribe to the streams the server rendered for it.
 * A token is `base64url(payload).base64url(hmac-sha256(secret, base64url(payload)))`, where the
 * payload is the JSON `["<name>"]`, or `["<name>", <expiry in ms since the epoch>]`. Any name,
 * whatever characters it holds, comes out as URL-safe text without `/`, `.` or line breaks.
 */
export class StreamNameSigner {
  private readonly secret: string;

  constructor(secret: string) {
    this.secret = secret;
  }

  /** Signs `name`; with `ttl` (milliseconds) the token stops verifying that long from now. */
  sign(name: string, ttl: number | null = null, now = Date.now()): string {
    const payload = ttl === null ? JSON.stringify([name]) : JSON.stringify([name, now + ttl]);
    const encoded = Buffer.from(payload).toString('base64url');
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
    return crypto.createHmac('sha256', this.secret).update(encoded).digest('base64url');
  }
}

function parsePayload(json: string): VerifiedStreamName | null {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return null; // Only reachable with a valid signature over garbage: treat as tampered.
  }
  if (!Array.isArray(value) || typeof value[0] !== 'string' || value.length > 2) return null;
  if (value.length === 2 && !Number.isFinite(value[1])) return null;
  const expiresAt = value.length === 2 ? (value[1] as number) : null;
  return { name: value[0], expiresAt };
}
