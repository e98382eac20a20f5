import crypto from 'node:crypto';
import type { Request, Response } from 'express';

/**
 * A deliberately tiny sign-in: the chosen name in a signed cookie. Real apps use their own
 * session or passport; turbo-express only needs `currentUser(req)`.
 */
const COOKIE = 'chat_user';

/**
 * Signs with a label of its own: the app's secret also signs turbo-express's stream names, and a
 * value signed for one use must never pass for the other.
 */
function sign(value: string, secret: string): string {
  return crypto
    .createHmac('sha256', secret)
    .update('chat sign-in\0')
    .update(value)
    .digest('base64url');
}

export function currentUser(req: Request, secret: string): string | undefined {
  const cookies = req.headers.cookie ?? '';
  const match = new RegExp(`(?:^|;\\s*)${COOKIE}=([^;]+)`).exec(cookies);
  if (match === null) return undefined;
  const [encoded, signature] = decodeURIComponent(match[1]).split('.');
  if (signature === undefined || sign(encoded, secret) !== signature) return undefined;
  return Buffer.from(encoded, 'base64url').toString();
}

export function signIn(res: Response, name: string, secret: string): void {
  const encoded = Buffer.from(name).toString('base64url');
  const value = encodeURIComponent(`${encoded}.${sign(encoded, secret)}`);
  res.setHeader('Set-Cookie', `${COOKIE}=${value}; Path=/; HttpOnly; SameSite=Lax`);
}

export function signOut(res: Response): void {
  res.setHeader('Set-Cookie', `${COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax`);
}
