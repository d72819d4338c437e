import { readFile, stat } from 'node:fs/promises';
import { RustynetError } from '@rustynet/plugin-api';
import { sha256Hex } from '../util/json.js';

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
   * @throws RustynetError `NETMAP_INVALID` when the content is not JSON.
   */
  fetch(force?: boolean): Promise<NetmapFetch>;
  /** Forgets what was seen, so the next fetch returns the content again (retry after a failed apply). */
  invalidate(): void;
}

function parse(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new RustynetError('NETMAP_INVALID', `${where}: not valid JSON (${(err as Error).message})`);
  }
}

/** A netmap file, polled by mtime/size and content digest. A missing file is "not yet". */
export class FileNetmapSource implements NetmapSource {
  private statKey: string | undefined;
  private digest: string | undefined;

  constructor(readonly path: string) {}

  get description(): string {
    return `file ${this.path}`;
  }

  async fetch(force = false): Promise<NetmapFetch> {
    let key: string;
    try {
      const st = await stat(this.path);
      key = `${st.mtimeMs}:${st.size}:${st.ino}`;
    } catch {
      return { changed: false };
    }
    if (!force && key === this.statKey) return { changed: false };
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch {
      return { changed: false };
    }
    this.statKey = key;
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

/** A netmap URL (http/https), fetched with a deadline and `If-None-Match`. Network errors are "not now". */
export class UrlNetmapSource implements NetmapSource {
  private etag: string | undefined;
  private digest: string | undefined;

  constructor(
    readonly url: string,
    private readonly timeoutMs = 10_000,
    private readonly onError?: (err: unknown) => void,
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
    const text = await res.text();
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
