/**
 * Client of the admin API over its unix socket (`<data>/admin.sock`), used by
 * `rustynet control ...` commands.
 */
import { RustynetError, isRustynetError } from '@rustynet/plugin-api';
import { replyError, sendRequest, type JsonReply } from './http-request.js';

/** Talks to a control plane's admin socket. */
export class AdminClient {
  constructor(
    readonly socketPath: string,
    private readonly timeoutMs = 30_000,
  ) {}

  /**
   * Sends one admin request and returns the JSON reply body.
   * @throws RustynetError with the server's code; `NOT_RUNNING` when nothing listens on the
   *   socket (missing or refused), `PERMISSION_DENIED` when the caller may not open it.
   */
  async call(method: string, path: string, body?: unknown): Promise<unknown> {
    const buf = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    let r: JsonReply;
    try {
      r = await sendRequest({ baseUrl: 'http://admin.invalid', socketPath: this.socketPath }, method, path, buf, {}, this.timeoutMs);
    } catch (err) {
      const cause = isRustynetError(err) && err.cause instanceof Error ? (err.cause as NodeJS.ErrnoException).code : undefined;
      if (cause === 'ENOENT' || cause === 'ECONNREFUSED') {
        throw new RustynetError(
          'NOT_RUNNING',
          `no control plane on ${this.socketPath} (is \`rustynet control serve\` running with this --data?)`,
          { cause: err },
        );
      }
      if (cause === 'EACCES' || cause === 'EPERM')
        throw new RustynetError('PERMISSION_DENIED', `cannot open ${this.socketPath}: the admin socket is root-only`, { cause: err });
      throw err;
    }
    if (r.status < 200 || r.status >= 300) throw replyError(r);
    return r.body;
  }
}
