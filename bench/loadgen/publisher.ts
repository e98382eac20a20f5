/** POSTs broadcast requests over a small keep-alive pool, like an app server's write traffic. */
import http from 'node:http';
import { BROADCAST_PATH } from '../servers/contract';
import type { BroadcastRequest } from '../payload';

export class Publisher {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

  constructor(private readonly port: number) {}

  /** Resolves true on a 2xx answer; never rejects, so an open loop keeps going. */
  post(body: BroadcastRequest): Promise<boolean> {
    const json = JSON.stringify(body);
    return new Promise((resolve) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port: this.port,
          path: BROADCAST_PATH,
          method: 'POST',
          agent: this.agent,
          headers: {
            'Content-Type': 'application/json',
            'Content-Length': Buffer.byteLength(json),
          },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode! >= 200 && res.statusCode! < 300));
        },
      );
      req.on('error', () => resolve(false));
      req.end(json);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
