/**
 * Client of the admin API over its unix socket (`<data>/admin.sock`), used by
 * `rustynet control ...` commands.
 */
import { replyError, sendRequest } from './http-request.js';

/** Talks to a control plane's admin socket. */
export class AdminClient {
  constructor(readonly socketPath: string, private readonly timeoutMs = 30_000) {}

  /**
   * Sends one admin request and returns the JSON reply body.
   * @throws RustynetError with the server's code; `INTERNAL` when the socket is unreachable.
   */
  async call(method: string, path: string, body?: unknown): Promise<unknown> {
    const buf = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const r = await sendRequest({ baseUrl: 'http://admin.invalid', socketPath: this.socketPath }, method, path, buf, {}, this.timeoutMs);
    if (r.status < 200 || r.status >= 300) throw replyError(r);
    return r.body;
  }
}
