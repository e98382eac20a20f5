/**
 * The interface every contestant module in bench/servers/ implements.
 *
 * A contestant module exports `createBenchServer(): Promise<BenchServer>`. The host process
 * (servers/host.ts) calls it, binds `server` to 127.0.0.1 on port 0 and handles all IPC, so
 * a contestant only deals with HTTP:
 *
 *   GET  /events     Server-Sent Events stream. No heartbeat comments, so the rig's counters see
 *                    only messages; a `retry:` frame and `id:` lines are fine (the counter counts
 *                    `data:` lines, and every message is one line of HTML).
 *   POST /broadcast  JSON body `BroadcastRequest` ({ seq, t, size, count? }). Produce one HTML
 *                    message of about `size` bytes containing `data-seq="<seq>" data-t="<t>"`
 *                    (see payload.ts; `buildHtml` does it for contestants without templates), send
 *                    it to every open /events stream as one SSE event, then answer 2xx. With
 *                    `count`, do that for seqs seq .. seq + count - 1 in the same turn.
 */
import type { Server } from 'node:http';

export const EVENTS_PATH = '/events';
export const BROADCAST_PATH = '/broadcast';

export interface BenchServer {
  /** An http.Server that is not listening yet. */
  server: Server;
  /** Number of template renders so far, or null if this contestant does not render. */
  renderCount(): number | null;
  /** Currently open /events streams (the rig waits for this to match its socket count). */
  subscriberCount(): number;
  /** Release timers, database handles and the like. */
  close(): Promise<void>;
}

export interface ContestantModule {
  createBenchServer(): Promise<BenchServer>;
}
