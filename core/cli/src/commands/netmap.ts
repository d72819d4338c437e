/**
 * `rustynet netmap sign|verify|reload`: sign a netmap with the control-plane key, check a
 * signed netmap, and ask a running daemon to re-read its netmap source.
 */
import type { Command } from 'commander';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { ErrorCodes, RustynetError, isRustynetError, type ErrorCode, type Netmap, type SignedNetmap } from '@rustynet/plugin-api';
import { parseStrictJson } from '@rustynet/plugin-kit';
import { daemonModule } from '../daemon-api.js';
import { describeIngest, formatAge, table } from '../format.js';
import { io, printJson } from '../io.js';
import { addExamples, addJsonOption, addSocketOption, apiClient } from '../program.js';
import { registerDelta } from './netmap-delta.js';

/** Largest netmap the CLI reads, in bytes: the daemon's default `netmap.maxBytes` (16 MiB). */
const DEFAULT_NETMAP_MAX_BYTES = 16 * 1024 * 1024;

/** Matches a raw 32-byte Ed25519 public key in base64. */
const B64_KEY = /^[A-Za-z0-9+/]{43}=$/;

export async function readInput(path: string, field: string): Promise<string> {
  if (path === '-') return io().readStdin();
  try {
    return await readFile(path, 'utf8');
  } catch (cause) {
    throw new RustynetError('INVALID_INPUT', `cannot read ${path}: ${(cause as Error).message}`, { field, cause });
  }
}

/**
 * Strict I-JSON parse (RFC 7493, via `parseStrictJson`): the same parser as the daemon's and the
 * relay's, so a netmap with a repeated member is refused here too.
 * @throws RustynetError `NETMAP_TOO_LARGE` over {@link DEFAULT_NETMAP_MAX_BYTES}, `DUPLICATE_KEY`
 *   naming the member, `NETMAP_INVALID` when not JSON.
 */
export function parseJson(text: string, what: string, field: string): unknown {
  const size = Buffer.byteLength(text, 'utf8');
  if (size > DEFAULT_NETMAP_MAX_BYTES)
    throw new RustynetError('NETMAP_TOO_LARGE', `${what} is larger than ${DEFAULT_NETMAP_MAX_BYTES} bytes (${size})`, {
      field,
      details: { limit: DEFAULT_NETMAP_MAX_BYTES, size },
    });
  try {
    return parseStrictJson(text, { what });
  } catch (cause) {
    if (isRustynetError(cause, 'DUPLICATE_KEY')) throw cause;
    throw new RustynetError('NETMAP_INVALID', `${what} is not valid JSON: ${(cause as Error).message}`, { field, cause });
  }
}

/**
 * Writes `text` to `path` atomically (temporary file in the same directory, then rename), so
 * a daemon polling the file never reads half a netmap.
 */
export async function writeFileAtomic(path: string, text: string, mode = 0o644): Promise<void> {
  const abs = resolve(path);
  const tmp = join(dirname(abs), `.${basename(abs)}.${process.pid}.${Date.now()}.tmp`);
  await writeFile(tmp, text, { mode });
  await rename(tmp, abs);
}

/**
 * Resolves `--pubkey`: a base64 raw Ed25519 key, or a file containing one.
 * @throws RustynetError `KEY_INVALID` when neither.
 */
export async function resolvePublicKey(value: string): Promise<string> {
  const v = value.trim();
  if (B64_KEY.test(v)) return v;
  let text: string;
  try {
    text = (await readFile(v, 'utf8')).trim();
  } catch {
    throw new RustynetError('KEY_INVALID', `--pubkey is neither a base64 Ed25519 public key nor a readable file: ${v}`, {
      field: '--pubkey',
    });
  }
  if (!B64_KEY.test(text)) {
    throw new RustynetError('KEY_INVALID', `${v} does not hold a base64 raw Ed25519 public key (44 characters)`, { field: '--pubkey' });
  }
  return text;
}

/** How `--bump` picks the new version. */
export type BumpMode = 'next' | 'time';

/** Options of {@link signNetmapFile} for the file flow. */
export interface SignFileOptions {
  /**
   * Raise the version: `next` = previous + 1, `time` = max(previous + 1, Unix seconds now).
   * "Previous" is the larger of the input's version and `previousVersion`. Also stamps `issuedAt` = now.
   */
  bump?: BumpMode;
  /** Version of the last signed map (e.g. the current `--out` file), for `bump`. */
  previousVersion?: number;
  /** Sets `issuedAt` = now and `expiresAt` = now + this many ms. */
  expiresInMs?: number;
  /** Clock (ms); default `Date.now()`. */
  now?: number;
}

/**
 * The version in a signed (or bare) netmap file, or undefined when it is missing or unreadable
 * (`--bump` then counts from the input alone).
 */
export async function versionOfFile(path: string): Promise<number | undefined> {
  try {
    const doc = JSON.parse(await readFile(path, 'utf8')) as { version?: unknown; netmap?: { version?: unknown } };
    const v = doc.netmap?.version ?? doc.version;
    return typeof v === 'number' && Number.isSafeInteger(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** Applies `--bump` / `--expires-in` to a netmap (a new object). */
export function restamp(netmap: Netmap, opts: SignFileOptions): Netmap {
  const now = opts.now ?? Date.now();
  const out: Netmap = { ...netmap };
  if (opts.bump !== undefined) {
    const prev = Math.max(Number.isSafeInteger(netmap.version) ? netmap.version : 0, opts.previousVersion ?? 0);
    out.version = opts.bump === 'time' ? Math.max(prev + 1, Math.floor(now / 1000)) : prev + 1;
    out.issuedAt = new Date(now).toISOString();
  }
  if (opts.expiresInMs !== undefined) {
    out.issuedAt = new Date(now).toISOString();
    out.expiresAt = new Date(now + opts.expiresInMs).toISOString();
  }
  return out;
}

/**
 * Signs a netmap. Accepts a bare netmap or an already signed one (its netmap is re-signed).
 * With `opts` it first bumps the version and / or sets a fresh expiry (file flow).
 * The result is verified with the matching public key at its own `issuedAt`, which checks the
 * schema without refusing deliberately short-lived maps.
 * @throws RustynetError `KEY_INVALID` (key file missing / not 0600), `NETMAP_INVALID`.
 */
export async function signNetmapFile(
  keyFile: string,
  inputText: string,
  opts: SignFileOptions = {},
): Promise<{ signed: SignedNetmap; expired: boolean }> {
  const d = await daemonModule();
  let pem: string;
  try {
    pem = await d.readPrivateKeyFile(keyFile);
  } catch (err) {
    if (isRustynetError(err)) throw new RustynetError(err.code, err.message, { field: '--key', cause: err });
    throw err;
  }
  const parsed = parseJson(inputText, 'the netmap input', '--in') as Record<string, unknown>;
  const input = (parsed && typeof parsed === 'object' && 'signature' in parsed && 'netmap' in parsed ? parsed['netmap'] : parsed) as Netmap;
  const netmap = opts.bump === undefined && opts.expiresInMs === undefined ? input : restamp(input, opts);
  const signed = d.signNetmap(netmap, pem);
  const pub = d.publicKeyFromPrivatePem(pem);
  const issued = Date.parse(netmap.issuedAt);
  d.verifySignedNetmap(signed, pub, Number.isNaN(issued) ? {} : { now: issued });
  const expired = Date.parse(netmap.expiresAt) <= Date.now();
  return { signed, expired };
}

function nodeRows(nm: Netmap): string[][] {
  return nm.nodes.map((n) => [
    n.id,
    n.addresses.join(','),
    n.endpoints.map((e) => (e.host.includes(':') ? `[${e.host}]:${e.port}` : `${e.host}:${e.port}`)).join(',') || '-',
    Object.keys(n.keys).sort().join(',') || '-',
  ]);
}

/** Registers `netmap sign`, `netmap verify` and `netmap reload`. */
export function register(program: Command): void {
  const netmap = program.command('netmap').description('sign, verify and reload netmaps');
  addExamples(netmap, [
    'rustynet netmap sign --key cp/control-plane.key --in netmap.json --out netmap.signed.json',
    'rustynet netmap verify --pubkey cp/control-plane.pub netmap.signed.json',
    'rustynet netmap reload --socket /run/rustynet/a.sock',
  ]);

  const sign = netmap
    .command('sign')
    .description('sign a netmap (JSON) with the control-plane Ed25519 key; writes the signed netmap (JSON)')
    .requiredOption('--key <file>', 'control-plane private key (PEM, mode 0600), e.g. from `rustynet keygen --control-plane`')
    .option('--in <file>', 'netmap to sign, or - for stdin', '-')
    .option('--out <file>', 'where to write the signed netmap (atomically); default stdout')
    .option(
      '--bump [mode]',
      'raise the version above the input and the current --out file: next (previous + 1, default) or time (Unix seconds, at least previous + 1); sets issuedAt to now',
    )
    .option('--expires-in <duration>', 'set issuedAt to now and expiresAt to now + duration (e.g. 30m, 12h, 7d)');
  addExamples(sign, [
    'rustynet netmap sign --key cp/control-plane.key --in netmap.json --out /var/lib/rustynet/netmap.json',
    'cat netmap.json | rustynet netmap sign --key cp/control-plane.key > signed.json',
    'rustynet netmap sign --key cp/control-plane.key --in netmap.json --out signed.json --bump --expires-in 12h',
    'rustynet netmap sign --key cp/control-plane.key --in netmap.json --bump time --expires-in 30m > signed.json',
  ]);
  sign.action(async (opts: { key: string; in: string; out?: string; bump?: string | boolean; expiresIn?: string }) => {
    const bump = opts.bump === undefined ? undefined : opts.bump === true ? 'next' : opts.bump;
    if (bump !== undefined && bump !== 'next' && bump !== 'time') {
      throw new RustynetError('INVALID_INPUT', `--bump must be next or time, got ${String(bump)}`, { field: '--bump' });
    }
    const expiresInMs =
      opts.expiresIn === undefined ? undefined : (await import('@rustynet/control/duration')).parseDuration(opts.expiresIn, '--expires-in');
    const previousVersion = bump !== undefined && opts.out ? await versionOfFile(opts.out) : undefined;
    const { signed, expired } = await signNetmapFile(opts.key, await readInput(opts.in, '--in'), {
      ...(bump !== undefined && { bump }),
      ...(previousVersion !== undefined && { previousVersion }),
      ...(expiresInMs !== undefined && { expiresInMs }),
    });
    if (expired)
      io().err(`rustynet: warning: netmap version ${signed.netmap.version} is already expired (expiresAt ${signed.netmap.expiresAt})\n`);
    const text = `${JSON.stringify(signed, null, 2)}\n`;
    if (opts.out) {
      await writeFileAtomic(opts.out, text);
      io().err(`rustynet: signed netmap version ${signed.netmap.version} written to ${opts.out}\n`);
    } else {
      io().out(text);
    }
  });

  const verify = netmap
    .command('verify')
    .description('verify a signed netmap: schema, Ed25519 signature, expiry; prints version, expiry and nodes')
    .argument('<file>', 'signed netmap file, or - for stdin')
    .requiredOption('--pubkey <key-or-file>', 'control-plane public key: base64 raw Ed25519 key, or a file holding it');
  addJsonOption(verify);
  addExamples(verify, [
    'rustynet netmap verify --pubkey cp/control-plane.pub netmap.json',
    'rustynet netmap verify --pubkey 3q2+7w...= - --json < netmap.json',
  ]);
  verify.action(async (file: string, opts: { pubkey: string; json?: boolean }) => {
    try {
      const pub = await resolvePublicKey(opts.pubkey);
      const d = await daemonModule();
      const input = parseJson(await readInput(file, '<file>'), file, '<file>');
      const nm = d.verifySignedNetmap(input, pub);
      if (opts.json) {
        printJson({
          ok: true,
          version: nm.version,
          issuedAt: nm.issuedAt,
          expiresAt: nm.expiresAt,
          ...(nm.network !== undefined && { network: nm.network }),
          nodes: nm.nodes.map((n) => ({ id: n.id, addresses: n.addresses, endpoints: n.endpoints, keys: Object.keys(n.keys).sort() })),
        });
        return;
      }
      const now = Date.now();
      io().out(
        `OK: netmap version ${nm.version}${nm.network ? ` (${nm.network})` : ''}, issued ${nm.issuedAt}, expires ${nm.expiresAt} (${formatAge(nm.expiresAt, now)}), ${nm.nodes.length} nodes\n\n`,
      );
      io().out(table(['NODE', 'ADDRESSES', 'ENDPOINTS', 'KEYS'], nodeRows(nm)));
    } catch (err) {
      if (opts.json && isRustynetError(err)) printJson({ ok: false, error: { code: err.code, message: err.message } });
      throw err;
    }
  });

  registerDelta(netmap);

  const reload = netmap.command('reload').description('ask rustynetd to re-read its netmap source now (same as SIGHUP)');
  addSocketOption(addJsonOption(reload));
  addExamples(reload, ['rustynet netmap reload', 'rustynet netmap reload --socket /run/rustynet/a.sock --json']);
  reload.action(async (opts: { socket?: string; json?: boolean }) => {
    const body = (await apiClient(opts).reloadNetmap()) as {
      result?: string;
      version?: number;
      error?: { code?: string; message?: string };
    } | null;
    if (opts.json) printJson(body ?? { ok: true });
    const failed = body?.result === 'rejected' || body?.result === 'failed';
    if (failed) {
      const code = body?.error?.code && body.error.code in ErrorCodes ? (body.error.code as ErrorCode) : 'INTERNAL';
      throw new RustynetError(code, `netmap ${body?.result}: ${body?.error?.message ?? 'no reason given'}`);
    }
    if (!opts.json) io().out(`rustynet: netmap ${describeIngest(body)}\n`);
  });
}
