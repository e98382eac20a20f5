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
 * A token is `base64url(payload).base64url(hmac-sha256(secret, payload))`, where the payload is
 * the name, or the name and an expiry time in milliseconds since the epoch.
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
    const given = Buffer.from(token.slice(dot + 1), 'base64url');
    const expected = Buffer.from(this.digest(encoded), 'base64url');
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
  if (!Array.isArray(value) || typeof value[0] !== 'string') return null;
  const expiresAt = value.length > 1 && typeof value[1] === 'number' ? value[1] : null;
  return { name: value[0], expiresAt };
}
