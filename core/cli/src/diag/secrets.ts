/**
 * Keeps secrets out of a debug bundle. Two layers:
 * 1. the node's own secrets are read from the files the config names (identity key, everything
 *    in the backend's key directory (two levels deep) but public keys, the control plane's pre-auth key file) and
 *    every encoding of each (text as stored, raw bytes, base64, base64url, hex in both cases) is
 *    replaced wherever it appears;
 * 2. patterns catch secrets the node does not hold as files: PEM private-key blocks, Rustynet
 *    pre-auth keys (`rnk_<id>_<secret>`), HTTP bearer credentials, and JSON members whose name
 *    says secret (`password`, `token`, `secret`, `privateKey`, `authKey`).
 */
import { createPrivateKey } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';

/** What replaces a secret. */
export const REDACTED = '[REDACTED]';

/** The files that may hold secrets, as a daemon config names them. */
export interface SecretSources {
  identityKeyFile?: string;
  keyDirectory?: string;
  authKeyFile?: string;
}

/** Raw secret bytes and text forms gathered from the node's key files. */
export type SecretSet = Buffer[];

function pemRaw(text: string): Buffer[] {
  const out: Buffer[] = [];
  for (const m of text.matchAll(/-----BEGIN ([A-Z0-9 ]*)-----([\s\S]*?)-----END \1-----/g)) {
    const der = Buffer.from(m[2].replace(/\s+/g, ''), 'base64');
    out.push(der);
    try {
      const jwk = createPrivateKey({ key: m[0], format: 'pem' }).export({ format: 'jwk' });
      if (typeof jwk.d === 'string') out.push(Buffer.from(jwk.d, 'base64url'));
    } catch {
      /* not a private key we can parse: the DER and the text still go */
    }
  }
  return out;
}

/** The secret forms of one file's content: the text, and the raw bytes it encodes. */
export function secretFormsOf(content: Buffer): Buffer[] {
  const text = content.toString('utf8').trim();
  const out: Buffer[] = [content, Buffer.from(text, 'utf8')];
  if (text.includes('-----BEGIN')) out.push(...pemRaw(text));
  else if (/^[A-Za-z0-9+/_-]+={0,2}$/.test(text) && text.length >= 16) {
    out.push(Buffer.from(text, /[-_]/.test(text) ? 'base64url' : 'base64'));
  }
  if (/^[0-9a-fA-F]+$/.test(text) && text.length % 2 === 0 && text.length >= 32) out.push(Buffer.from(text, 'hex'));
  return out.filter((b) => b.length >= 16);
}

async function readIfFile(path: string): Promise<Buffer | undefined> {
  try {
    const st = await stat(path);
    if (!st.isFile() || st.size > 1024 * 1024) return undefined;
    return await readFile(path);
  } catch {
    return undefined;
  }
}

/** Reads the node's secrets (files that cannot be read are skipped: the patterns still apply). */
export async function collectSecrets(src: SecretSources): Promise<SecretSet> {
  const files: string[] = [];
  if (src.identityKeyFile) files.push(src.identityKeyFile);
  if (src.authKeyFile) files.push(src.authKeyFile);
  const walk = async (dir: string, depth: number): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      const p = join(dir, e.name);
      if (e.isDirectory() && depth > 0) await walk(p, depth - 1);
      else if (e.isFile() && !/public|\.pub$/i.test(e.name)) files.push(p);
    }
  };
  if (src.keyDirectory) await walk(src.keyDirectory, 2);
  const out: Buffer[] = [];
  for (const f of files) {
    const c = await readIfFile(f);
    if (c) out.push(...secretFormsOf(c));
  }
  return out;
}

/** Every textual encoding of a secret that could land in a bundle, longest first. */
export function encodingsOf(secret: Buffer): string[] {
  const forms = new Set<string>([
    secret.toString('base64'),
    secret.toString('base64').replace(/=+$/, ''),
    secret.toString('base64url'),
    secret.toString('hex'),
    secret.toString('hex').toUpperCase(),
  ]);
  const text = secret.toString('utf8');
  if (!text.includes('\uFFFD')) forms.add(text);
  return [...forms].filter((f) => f.length >= 16).sort((a, b) => b.length - a.length);
}

const PATTERNS: ReadonlyArray<[RegExp, string]> = [
  [/-----BEGIN ([A-Z0-9 ]*PRIVATE KEY)-----[\s\S]*?-----END \1-----/g, `-----BEGIN $1----- ${REDACTED} -----END $1-----`],
  [/\b(rnk_[0-9a-f]{12}_)[A-Za-z0-9_-]+/g, `$1${REDACTED}`],
  [/\b(bearer\s+)[A-Za-z0-9._~+/=-]+/gi, `$1${REDACTED}`],
  [/("(?:[A-Za-z_]*(?:password|secret|token|privateKey|private_key|authKey|preAuthKey))"\s*:\s*)"(?:[^"\\]|\\.)*"/gi, `$1"${REDACTED}"`],
];

/** Replaces every encoding of every secret in `secrets`, then the patterns, in `text`. */
export function redactText(text: string, secrets: SecretSet): string {
  let out = text;
  for (const s of secrets) for (const enc of encodingsOf(s)) out = out.split(enc).join(REDACTED);
  for (const [re, rep] of PATTERNS) out = out.replace(re, rep);
  return out;
}

/**
 * Redacts a JSON-able value: serialises it, redacts the text (secret encodings, patterns,
 * secret-named members), parses it back.
 */
export function redactJson<T>(value: T, secrets: SecretSet): T {
  return JSON.parse(redactText(JSON.stringify(value), secrets)) as T;
}

/** True when `data` contains `secret` as raw bytes or in any encoding (a last check of the whole bundle). */
export function containsSecret(data: Buffer, secret: Buffer): boolean {
  if (data.includes(secret)) return true;
  return encodingsOf(secret).some((e) => data.includes(Buffer.from(e, 'utf8')));
}
