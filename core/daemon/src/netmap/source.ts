import { open, stat } from 'node:fs/promises';
import { RustynetError, isRustynetError } from '@rustynet/plugin-api';
import { parseStrictJson } from '@rustynet/plugin-kit';
import { sha256Hex } from '../util/json.js';
import type { ControlStatus } from '../local/status-types.js';

/** Default largest accepted netmap, in bytes (16 MiB); `netmap.maxBytes` in the daemon config. */
export const DEFAULT_NETMAP_MAX_BYTES = 16 * 1024 * 1024;

/** Result of {@link NetmapSource.fetch}. */
export interface NetmapFetch {
  /** False when the content is the same as last time (or not available yet). */
  changed: boolean;
  /** The parsed JSON when `changed`. */
  value?: unknown;
  /** The JSON text `value` was parsed from, when `changed`. */
  text?: string;
}

/** Where signed netmaps come from. */
export interface NetmapSource {
  /** Human description (`file /x/netmap.json`). */
  readonly description: string;
  /**
   * Reads the source; with `force` the content is returned even if unchanged.
   * @throws RustynetError `NETMAP_TOO_LARGE` (over the size limit; refused before parsing and
   *   reported once per distinct content), `NETMAP_INVALID` when the content is not JSON,
   *   `DUPLICATE_KEY` when an object names a member twice (RFC 7493).
   */
  fetch(force?: boolean): Promise<NetmapFetch>;
  /** Forgets what was seen, so the next fetch returns the content again (retry after a failed apply). */
  invalidate(): void;
  /**
   * Reads the full signed netmap, never a delta (optional: a source that may return signed
   * deltas from {@link fetch} has it). The daemon calls it after a delta it could not apply;
   * without it, it calls `invalidate()` and `fetch(true)`.
   * @throws as {@link fetch}.
   */
  fetchFull?(): Promise<NetmapFetch>;
  /**
   * This node's standing with the control plane (optional: a control-plane source has it): the
   * refusal while the control plane refuses this node (keys expired, expired or removed by an
   * admin), else null. Shown in status as `control`.
   */
  controlStatus?(): ControlStatus;
}

/**
 * Strict I-JSON parse of a netmap envelope (duplicate member names refused, see
 * `parseStrictJson`): a syntax error is `NETMAP_INVALID`, a repeated member `DUPLICATE_KEY`.
 */
function parse(text: string, where: string): unknown {
  try {
    return parseStrictJson(text, { what: where });
  } catch (err) {
    if (isRustynetError(err, 'DUPLICATE_KEY')) throw err;
    throw new RustynetError('NETMAP_INVALID', `${where}: not valid JSON (${(err as Error).message})`, { cause: err });
  }
}

function tooLarge(where: string, field: string, limit: number, size: number | undefined): RustynetError {
  return new RustynetError(
    'NETMAP_TOO_LARGE',
    `${where}: netmap is larger than the limit of ${limit} bytes${size === undefined ? '' : ` (${size} bytes)`}; refused before parsing`,
    { field, details: { limit, ...(size !== undefined && { size }) } },
  );
}

/** Reads at most `limit + 1` bytes of the file at `path` (so growth after `stat` is caught too). */
async function readCapped(path: string, limit: number): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(Math.min(limit + 1, 1 << 20));
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, limit + 1 - total), null);
      if (bytesRead === 0) break;
      chunks.push(Buffer.from(buf.subarray(0, bytesRead)));
      total += bytesRead;
      if (total > limit) break;
    }
    return Buffer.concat(chunks, total);
  } finally {
    await fh.close();
  }
}

/** Reads a fetch body, cancelling it once it passes `limit` bytes. @returns undefined when over. */
async function readBodyCapped(res: Response, limit: number): Promise<Buffer | undefined> {
  if (!res.body) return Buffer.alloc(0);
  // undici types the body as ReadableStream<any>; its chunks are bytes.
  const reader: ReadableStreamDefaultReader<Uint8Array> = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const chunk = await reader.read();
    if (chunk.done) break;
    total += chunk.value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => undefined);
      return undefined;
    }
    chunks.push(chunk.value);
  }
  return Buffer.concat(chunks, total);
}

/**
 * A netmap file, polled by mtime/size and content digest. A missing file is "not yet". A file
 * over `maxBytes` is refused from its `stat` size, without reading it.
 */
export class FileNetmapSource implements NetmapSource {
  private statKey: string | undefined;
  private digest: string | undefined;

  constructor(
    readonly path: string,
    private readonly maxBytes = DEFAULT_NETMAP_MAX_BYTES,
  ) {}

  get description(): string {
    return `file ${this.path}`;
  }

  async fetch(force = false): Promise<NetmapFetch> {
    let key: string;
    let size: number;
    try {
      const st = await stat(this.path);
      key = `${st.mtimeMs}:${st.size}:${st.ino}`;
      size = st.size;
    } catch {
      return { changed: false };
    }
    if (!force && key === this.statKey) return { changed: false };
    if (size > this.maxBytes) {
      this.statKey = key;
      this.digest = undefined;
      throw tooLarge(this.description, 'netmap.file', this.maxBytes, size);
    }
    let bytes: Buffer;
    try {
      bytes = await readCapped(this.path, this.maxBytes);
    } catch {
      return { changed: false };
    }
    this.statKey = key;
    if (bytes.length > this.maxBytes) {
      this.digest = undefined;
      throw tooLarge(this.description, 'netmap.file', this.maxBytes, undefined);
    }
    const text = bytes.toString('utf8');
    const digest = sha256Hex(text);
    if (!force && digest === this.digest) return { changed: false };
    this.digest = digest;
    return { changed: true, value: parse(text, this.path), text };
  }

  invalidate(): void {
    this.statKey = undefined;
    this.digest = undefined;
  }
}

/**
 * A netmap URL (http/https), fetched with a deadline and `If-None-Match`. Network errors are "not
 * now". A body over `maxBytes` is refused from its `content-length`, or cut off while it streams.
 */
export class UrlNetmapSource implements NetmapSource {
  private etag: string | undefined;
  private digest: string | undefined;

  constructor(
    readonly url: string,
    private readonly timeoutMs = 10_000,
    private readonly onError?: (err: unknown) => void,
    private readonly maxBytes = DEFAULT_NETMAP_MAX_BYTES,
  ) {}

  get description(): string {
    return `url ${this.url}`;
  }

  async fetch(force = false): Promise<NetmapFetch> {
    let res: Response;
    try {
      res = await fetch(this.url, {
        signal: AbortSignal.timeout(this.timeoutMs),
        headers: { accept: 'application/json', ...(!force && this.etag ? { 'if-none-match': this.etag } : {}) },
      });
    } catch (err) {
      this.onError?.(err);
      return { changed: false };
    }
    if (res.status === 304) return { changed: false };
    if (!res.ok) {
      this.onError?.(new Error(`HTTP ${res.status}`));
      return { changed: false };
    }
    const declared = Number(res.headers.get('content-length') ?? NaN);
    if (Number.isFinite(declared) && declared > this.maxBytes) {
      // Remember the refused version, so the next poll gets 304 rather than another rejection.
      this.etag = res.headers.get('etag') ?? undefined;
      await res.body?.cancel().catch(() => undefined);
      throw tooLarge(this.description, 'netmap.url', this.maxBytes, declared);
    }
    let body: Buffer | undefined;
    try {
      body = await readBodyCapped(res, this.maxBytes);
    } catch (err) {
      this.onError?.(err);
      return { changed: false };
    }
    if (!body) {
      this.etag = res.headers.get('etag') ?? undefined;
      throw tooLarge(this.description, 'netmap.url', this.maxBytes, undefined);
    }
    const text = body.toString('utf8');
    this.etag = res.headers.get('etag') ?? undefined;
    const digest = sha256Hex(text);
    if (!force && digest === this.digest) return { changed: false };
    this.digest = digest;
    return { changed: true, value: parse(text, this.url), text };
  }

  invalidate(): void {
    this.etag = undefined;
    this.digest = undefined;
  }
}
