/**
 * Verification of a release directory as `scripts/release-artifacts.mjs` writes it:
 * `packages/*.tgz` (npm pack), `sbom/<package>-<version>.cdx.json` (CycloneDX JSON),
 * `provenance.intoto.json` (in-toto Statement v1 with an SLSA provenance v1 predicate),
 * `SHA256SUMS` (`sha256sum` format) and `SHA256SUMS.sig` (base64 Ed25519 signature over the
 * exact bytes of SHA256SUMS). Pure node:crypto and node:zlib; nothing is executed.
 */
import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join, normalize } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { RustynetError } from '@rustynet/plugin-api';

/** Names of the fixed files of a release directory. */
export const RELEASE_FILES = { sums: 'SHA256SUMS', signature: 'SHA256SUMS.sig', provenance: 'provenance.intoto.json' } as const;
/** in-toto Statement v1 `_type` (https://github.com/in-toto/attestation, spec v1). */
export const INTOTO_STATEMENT_V1 = 'https://in-toto.io/Statement/v1';
/** SLSA provenance v1 predicate type (https://slsa.dev/spec/v1.0/provenance). */
export const SLSA_PROVENANCE_V1 = 'https://slsa.dev/provenance/v1';

/** One check and its outcome; `file` is relative to the release directory. */
export interface ReleaseCheck {
  check: 'signature' | 'checksum' | 'unlisted-file' | 'sbom' | 'provenance';
  file: string;
  ok: boolean;
  /** Why it failed (absent when it passed). */
  problem?: string;
}

/** What {@link verifyRelease} found. */
export interface ReleaseReport {
  dir: string;
  ok: boolean;
  /** `name@version` of every package tarball. */
  packages: string[];
  checks: ReleaseCheck[];
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/**
 * Reads an Ed25519 public key (PEM, SPKI).
 * @throws RustynetError `KEY_INVALID` naming `--key` when the file is missing or holds no Ed25519 public key.
 */
export async function readReleasePublicKey(path: string): Promise<KeyObject> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new RustynetError('KEY_INVALID', `cannot read the release public key ${path}`, { field: '--key' });
  }
  try {
    const key = createPublicKey({ key: text, format: 'pem' });
    if (key.asymmetricKeyType === 'ed25519') return key;
  } catch {
    /* reported below */
  }
  throw new RustynetError('KEY_INVALID', `${path} is not an Ed25519 public key in PEM (SPKI) form`, { field: '--key' });
}

/** Files of a tar archive (ustar; what npm pack writes), by path. */
function untar(buf: Buffer): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  for (let off = 0; off + 512 <= buf.length;) {
    const header = buf.subarray(off, off + 512);
    if (header.every((b) => b === 0)) break;
    const str = (a: number, b: number): string => header.subarray(a, b).toString('utf8').replace(/\0.*$/s, '');
    const size = parseInt(str(124, 136).trim() || '0', 8);
    const prefix = str(345, 500);
    const name = prefix ? `${prefix}/${str(0, 100)}` : str(0, 100);
    if (header[156] === 0x30 || header[156] === 0) files.set(name, buf.subarray(off + 512, off + 512 + size));
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return files;
}

/** `name` and `version` of the package.json inside an npm tarball, or a problem. */
function packageOf(tgz: Buffer): { name: string; version: string } | string {
  try {
    const pj = untar(gunzipSync(tgz)).get('package/package.json');
    if (!pj) return 'no package/package.json in the tarball';
    const { name, version } = JSON.parse(pj.toString('utf8')) as { name?: unknown; version?: unknown };
    if (typeof name !== 'string' || typeof version !== 'string') return 'package.json lacks name or version';
    return { name, version };
  } catch (err) {
    return `not a gzip'd tar archive: ${(err as Error).message}`;
  }
}

/** The SBOM file name of a package (`@rustynet/cli` 1.0.0 -> `rustynet-cli-1.0.0.cdx.json`). */
export function sbomFileName(name: string, version: string): string {
  return `${name.replace(/^@/, '').replace('/', '-')}-${version}.cdx.json`;
}

function sbomProblem(text: string, pkg: { name: string; version: string }): string | undefined {
  let bom: {
    bomFormat?: unknown;
    specVersion?: unknown;
    metadata?: { component?: { name?: unknown; group?: unknown; version?: unknown } };
    components?: unknown;
  };
  try {
    bom = JSON.parse(text) as typeof bom;
  } catch {
    return 'not JSON';
  }
  if (bom.bomFormat !== 'CycloneDX') return `bomFormat is ${String(bom.bomFormat)}, not CycloneDX`;
  if (typeof bom.specVersion !== 'string' || !/^1\.\d+$/.test(bom.specVersion)) return 'specVersion missing or not 1.x';
  if (!Array.isArray(bom.components)) return 'components missing';
  const c = bom.metadata?.component;
  const full = c && (typeof c.group === 'string' && c.group ? `${c.group}/${String(c.name)}` : String(c.name));
  if (full !== pkg.name || c?.version !== pkg.version)
    return `metadata.component is ${String(full)}@${String(c?.version)}, not ${pkg.name}@${pkg.version}`;
  return undefined;
}

async function listFiles(dir: string, sub = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(join(dir, sub), { withFileTypes: true })) {
    const rel = sub ? `${sub}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await listFiles(dir, rel)));
    else out.push(rel);
  }
  return out;
}

/**
 * Verifies everything in a release directory. Never throws for a bad release: each problem
 * is a failed check in the report (`ok` false).
 * @throws RustynetError `INVALID_INPUT` (field `dir`) when `dir` cannot be read.
 */
export async function verifyRelease(dir: string, key: KeyObject): Promise<ReleaseReport> {
  const checks: ReleaseCheck[] = [];
  const fail = (check: ReleaseCheck['check'], file: string, problem: string): void => void checks.push({ check, file, ok: false, problem });
  const pass = (check: ReleaseCheck['check'], file: string): void => void checks.push({ check, file, ok: true });
  let present: string[];
  try {
    present = (await listFiles(dir)).sort();
  } catch {
    throw new RustynetError('INVALID_INPUT', `cannot read the release directory ${dir}`, { field: 'dir' });
  }
  const read = (f: string): Promise<Buffer | undefined> => readFile(join(dir, f)).catch(() => undefined);

  // 1. The signature over SHA256SUMS: everything else is trusted through it.
  const sums = await read(RELEASE_FILES.sums);
  const sig = await read(RELEASE_FILES.signature);
  if (!sums) fail('signature', RELEASE_FILES.sums, 'missing');
  else if (!sig) fail('signature', RELEASE_FILES.signature, 'missing');
  else {
    const raw = Buffer.from(sig.toString('utf8').trim(), 'base64');
    if (raw.length !== 64 || !verify(null, sums, key, raw))
      fail('signature', RELEASE_FILES.signature, 'the Ed25519 signature over SHA256SUMS does not verify with this key');
    else pass('signature', RELEASE_FILES.signature);
  }

  // 2. Every listed file exists and matches its SHA-256; nothing unlisted lies beside them.
  const listed = new Map<string, string>();
  for (const [i, line] of (sums?.toString('utf8') ?? '').split('\n').entries()) {
    if (line === '') continue;
    const m = /^([0-9a-f]{64}) [ *](.+)$/.exec(line);
    const file = m?.[2] ? normalize(m[2]) : undefined;
    if (!m?.[1] || !file || file.startsWith('..') || file.startsWith('/')) {
      fail('checksum', RELEASE_FILES.sums, `line ${i + 1} is not "<sha256>  <relative path>"`);
      continue;
    }
    listed.set(file, m[1]);
    const data = await read(file);
    if (!data) fail('checksum', file, 'listed in SHA256SUMS but missing');
    else if (sha256(data) !== m[1]) fail('checksum', file, 'SHA-256 differs from SHA256SUMS');
    else pass('checksum', file);
  }
  for (const f of present)
    if (!listed.has(f) && f !== RELEASE_FILES.sums && f !== RELEASE_FILES.signature) fail('unlisted-file', f, 'not listed in SHA256SUMS');

  // 3. One CycloneDX SBOM per package tarball, about that package.
  const packages: string[] = [];
  const tarballs = present.filter((f) => f.startsWith('packages/') && f.endsWith('.tgz'));
  if (tarballs.length === 0) fail('sbom', 'packages/', 'no package tarball in the release');
  const tarballDigests = new Map<string, string>();
  for (const t of tarballs) {
    const data = (await read(t)) ?? Buffer.alloc(0);
    tarballDigests.set(t, sha256(data));
    const pkg = packageOf(data);
    if (typeof pkg === 'string') {
      fail('sbom', t, pkg);
      continue;
    }
    packages.push(`${pkg.name}@${pkg.version}`);
    const file = `sbom/${sbomFileName(pkg.name, pkg.version)}`;
    const text = await read(file);
    const problem = text ? sbomProblem(text.toString('utf8'), pkg) : `no SBOM for ${pkg.name}@${pkg.version}`;
    if (problem) fail('sbom', file, problem);
    else pass('sbom', file);
  }

  // 4. The provenance statement names exactly the tarballs, with their digests.
  const prov = await read(RELEASE_FILES.provenance);
  const provProblem = ((): string | undefined => {
    if (!prov) return 'missing';
    let st: {
      _type?: unknown;
      predicateType?: unknown;
      subject?: { name?: unknown; digest?: { sha256?: unknown } }[];
      predicate?: {
        buildDefinition?: { resolvedDependencies?: { digest?: { gitCommit?: unknown } }[] };
        runDetails?: { builder?: { id?: unknown } };
      };
    };
    try {
      st = JSON.parse(prov.toString('utf8')) as typeof st;
    } catch {
      return 'not JSON';
    }
    if (st._type !== INTOTO_STATEMENT_V1) return `_type is not ${INTOTO_STATEMENT_V1}`;
    if (st.predicateType !== SLSA_PROVENANCE_V1) return `predicateType is not ${SLSA_PROVENANCE_V1}`;
    if (!Array.isArray(st.subject)) return 'subject missing';
    const subjects = new Map(st.subject.map((s) => [String(s.name), String(s.digest?.sha256)]));
    for (const [t, digest] of tarballDigests) {
      if (!subjects.has(t)) return `subject lacks ${t}`;
      if (subjects.get(t) !== digest) return `subject digest of ${t} differs from the file`;
    }
    for (const name of subjects.keys()) if (!tarballDigests.has(name)) return `subject ${name} is not in the release`;
    const deps = st.predicate?.buildDefinition?.resolvedDependencies ?? [];
    if (!deps.some((d) => typeof d.digest?.gitCommit === 'string' && /^[0-9a-f]{40}$/.test(d.digest.gitCommit)))
      return 'no resolvedDependencies entry with a gitCommit digest (the source commit)';
    const builder = st.predicate?.runDetails?.builder?.id;
    if (typeof builder !== 'string' || builder === '') return 'runDetails.builder.id missing';
    return undefined;
  })();
  if (provProblem) fail('provenance', RELEASE_FILES.provenance, provProblem);
  else pass('provenance', RELEASE_FILES.provenance);

  return { dir, ok: checks.every((c) => c.ok), packages, checks };
}
