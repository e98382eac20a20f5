import type { Request, Response } from 'express';
import createDebug from 'debug';
import { EventEmitter } from 'node:events';
import { ServerResponse, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';

const debug = createDebug('turbo-express:connection');

/** Node's own `res.write`: anything else means a middleware (compression()) wraps the response. */
const NODE_WRITE = ServerResponse.prototype.write;
/** Node's own `res.end`, called without the wrappers a middleware may have put on the response. */
const NODE_END: (this: ServerResponse) => unknown = ServerResponse.prototype.end;

/** What Node keeps on a server socket and response, read to tell whether a handover is safe. */
interface NodeSocketState {
  parser?: { incoming?: unknown } | null;
  /** The server that accepted the socket. */
  server?: unknown;
}
interface NodeResponseState {
  /** Set when Node will close the socket once this response finishes. */
  _last?: boolean;
}

/**
 * Sockets that carry a stream's chunks (any further request on them breaks HTTP), with the
 * kept-alive timeout Node gave them, put back when the stream ends.
 */
const handedOver = new WeakMap<Socket, number>();

/** Servers that close a handed-over socket on which a request arrives. */
const guardedServers = new WeakSet<EventEmitter>();

/**
 * Takes an SSE response's socket over from Node's HTTP server, once the headers are out, and
 * returns it; `null` when the response must stay with Node (see below).
 *
 * A held-open response keeps its request and response alive, and under Express each of them has
 * V8 hidden classes of its own (every property Express adds after `Object.setPrototypeOf` makes
 * a new map) plus the router state its `req.next` closes over: together about twice what Node
 * itself holds per connection. So the response is ended at once from Node's point of view, with
 * no byte of its own (not even the last chunk): Node's server forgets it as it would any finished
 * response and keeps the socket as an idle kept-alive one. The stream then writes its HTTP chunks
 * to the socket itself, and ends them with the last chunk when it closes. The request stays
 * where access is re-checked, but without `req.res` and `req.next`, which would keep the rest.
 * The response is ended by Node's own `end()`: wrappers of `res.end()` (express-session's, a
 * logger's) are not called for it, while 'finish' listeners (morgan, on-finished) see it end.
 *
 * Left with Node, written through `res.write()`: a response some middleware wraps (compression()),
 * one without chunked encoding (HTTP/1.0), one Node will close the socket after, and one with
 * another request already parsed behind it on the same socket, whose answer Node would write
 * into the stream.
 */
export function takeOverSocket(req: Request, res: Response): Socket | null {
  const socket = res.socket;
  if (socket === null || res.write !== NODE_WRITE || !res.chunkedEncoding) return null;
  // Bytes still in the response itself (writableLength counts the socket's share too) would
  // reach the socket after anything written to it directly.
  if (res.writableLength !== socket.writableLength) return null;
  if ((res as NodeResponseState)._last !== false) return null;
  if ((socket as NodeSocketState).parser?.incoming !== req) return null;

  handedOver.set(socket, 0);
  res.chunkedEncoding = false;
  // Node gives a finished response's socket its keep-alive timeout; a stream is idle by design.
  res.once('finish', function onHandedOver() {
    if (!handedOver.has(socket)) return;
    handedOver.set(socket, socket.timeout ?? 0);
    socket.setTimeout(0);
  });
  // Node's end, not the response's: a wrapper may add bytes, end later, never end, or throw now
  // that the headers are out, and any of those would break the stream or keep Node's hold on it.
  NODE_END.call(res);
  guardServer((socket as NodeSocketState).server);
  req.res = undefined;
  req.next = undefined;
  return socket;
}

/**
 * Makes the server close a socket that carries a stream as soon as a request arrives on it,
 * before the app's own listener runs: the client has broken HTTP (the stream's response never
 * ended), and any answer would land inside the stream. The app still handles the request, as it
 * would one whose client went away, but nothing it writes reaches the socket.
 */
function guardServer(server: unknown): void {
  if (!(server instanceof EventEmitter) || guardedServers.has(server)) return;
  guardedServers.add(server);
  server.prependListener('request', function closeHandedOverSocket(req: IncomingMessage) {
    if (!handedOver.has(req.socket)) return;
    debug('a request arrived on a socket that carries a stream: closing it');
    req.socket.destroy();
  });
}

/**
 * Ends a stream's response on its socket with the last chunk. The socket goes back to Node's
 * server as the kept-alive socket it was, with its timeout: clients reuse such sockets, and one
 * closed under them would fail their next request.
 */
export function endHandedOver(socket: Socket): void {
  const keepAliveTimeout = handedOver.get(socket);
  if (keepAliveTimeout === undefined) return;
  handedOver.delete(socket);
  debug('ending a stream on its socket');
  socket.write('0\r\n\r\n');
  if (keepAliveTimeout > 0) socket.setTimeout(keepAliveTimeout);
}

/** Forgets a socket that closed while it carried a stream. */
export function forgetHandedOver(socket: Socket): void {
  handedOver.delete(socket);
}
