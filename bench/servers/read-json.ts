import type { IncomingMessage } from 'node:http';

/** Read a small JSON request body without a framework (for the plain node:http contestant). */
export async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}
