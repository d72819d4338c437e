/**
 * The debug bundle carries no secret: real keys are generated (`rustynet keygen`: Ed25519 identity,
 * WireGuard and OpenVPN key pairs), a pre-auth key file is written, and every channel into the
 * bundle is made to carry them (the log file, and a local API that answers with them inside its
 * documents). The bundle is then searched for every private key in every encoding.
 */
import { expect } from 'chai';
import { createPrivateKey, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { rn } from './helpers.js';

/** Every private key file under `dir` (mode 0600, not a public key or a certificate). */
function privateFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...privateFiles(p));
    else if ((statSync(p).mode & 0o077) === 0 && !/pub/.test(e.name) && !/^-----BEGIN CERTIFICATE-----/.test(readFileSync(p, 'utf8'))) {
      out.push(p);
    }
  }
  return out;
}

/** The raw secret bytes of a key file: the PEM's private scalar and DER, or the base64 key's bytes. */
function rawSecrets(file: string): Buffer[] {
  const text = readFileSync(file, 'utf8').trim();
  if (text.includes('-----BEGIN')) {
    const out: Buffer[] = [];
    for (const m of text.matchAll(/-----BEGIN ([A-Z ]*)-----([\s\S]*?)-----END \1-----/g)) {
      out.push(Buffer.from(m[2].replace(/\s+/g, ''), 'base64'));
      try {
        const d = createPrivateKey(m[0]).export({ format: 'jwk' }).d;
        if (d) out.push(Buffer.from(d, 'base64url'));
      } catch {
        /* a certificate */
      }
    }
    return out;
  }
  return [Buffer.from(text, 'base64')];
}

/** Every encoding a secret could take in the bundle. */
function encodings(raw: Buffer): Array<[string, Buffer]> {
  return [
    ['raw bytes', raw],
    ['base64', Buffer.from(raw.toString('base64'))],
    ['base64 unpadded', Buffer.from(raw.toString('base64').replace(/=+$/, ''))],
    ['base64url', Buffer.from(raw.toString('base64url'))],
    ['hex', Buffer.from(raw.toString('hex'))],
    ['HEX', Buffer.from(raw.toString('hex').toUpperCase())],
  ];
}

describe('rustynet debug bundle: no secret in it', function () {
  this.timeout(60_000);
  let dir: string;
  let server: Server | undefined;
  const socket = (): string => join(dir, 'api.sock');

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rn-bundle-'));
    const kg = await rn([
      'keygen',
      '--out',
      join(dir, 'keys'),
      '--backend',
      '@rustynet/backend-wireguard',
      '@rustynet/backend-openvpn',
      '--json',
    ]);
    expect(kg.code, kg.stderr).to.equal(0);
  });

  after(() => {
    server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('finds no private key (any encoding), pre-auth key or token in the bundle, though every channel carried them', async () => {
    const keyDir = join(dir, 'keys');
    const files = privateFiles(keyDir);
    expect(files.length, 'identity + wireguard + openvpn private keys').to.be.at.least(3);
    const secrets = files.flatMap((f) => rawSecrets(f).map((raw) => ({ file: f, raw })));
    const authKey = `rnk_${randomBytes(6).toString('hex')}_${randomBytes(24).toString('base64url')}`;
    writeFileSync(join(dir, 'auth.key'), `${authKey}\n`, { mode: 0o600 });
    const bearer = randomBytes(24).toString('base64url');
    // The leaks: every key in every encoding, plus PEM text, in the log and in the API's answers.
    const leak = [
      ...secrets.flatMap((s) => encodings(s.raw).map(([, b]) => b.toString('latin1'))),
      ...files.map((f) => readFileSync(f, 'utf8')),
      authKey,
      `Authorization: Bearer ${bearer}`,
    ];
    const logLines = leak.map((l, i) => JSON.stringify({ level: 30, msg: `line ${i}`, leaked: l }));
    writeFileSync(join(dir, 'daemon.log'), `${logLines.join('\n')}\n`);
    const identity = files.find((f) => f.endsWith('identity.key'))!;
    const config = {
      node: 'a',
      stateDir: join(dir, 'state'),
      socket: socket(),
      controlPlaneKey: randomBytes(32).toString('base64'),
      identityKeyFile: identity,
      netmap: { control: { url: 'http://198.18.0.9:4242', authKeyFile: join(dir, 'auth.key') } },
      backend: {
        plugin: '@rustynet/backend-wireguard',
        interfaceName: 'rnbundle0',
        keyDirectory: keyDir,
        options: { token: 'opaque-token-value-123' },
      },
      log: { file: join(dir, 'daemon.log') },
    };
    writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
    server = createServer((req, res) => {
      const body =
        req.url === '/v1/netmap'
          ? { node: 'a', appliedAt: null, netmap: { version: 1, nodes: [], note: leak } }
          : req.url === '/v1/timeline'
            ? [{ hook: 'x', plugin: 'p', error: leak.join(' ') }]
            : req.url === '/v1/plugins'
              ? []
              : { leak };
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    });
    await new Promise<void>((r) => server!.listen(socket(), r));

    const out = join(dir, 'bundle.json.gz');
    const r = await rn(['debug', 'bundle', '--config', join(dir, 'config.json'), '--socket', socket(), '--out', out]);
    expect(r.code, r.stderr).to.equal(0);
    expect(statSync(out).mode & 0o777).to.equal(0o600);
    const bundle = gunzipSync(readFileSync(out));
    const doc = JSON.parse(bundle.toString('utf8')) as Record<string, unknown>;
    // It is a useful bundle: every section there.
    expect(doc).to.include.keys('versions', 'status', 'timeline', 'audit', 'netmap', 'config', 'logs', 'errors');
    expect((doc['logs'] as { lines: string[] }).lines).to.have.length(logLines.length);
    expect((doc['config'] as { content: { node: string } }).content.node).to.equal('a');

    const found: string[] = [];
    for (const s of secrets) {
      for (const [name, enc] of encodings(s.raw)) if (bundle.includes(enc)) found.push(`${s.file} as ${name}`);
    }
    for (const f of files) {
      const pemBody = readFileSync(f, 'utf8')
        .split('\n')
        .filter((l) => l && !l.startsWith('-----'));
      for (const line of pemBody) if (line.length >= 16 && bundle.includes(Buffer.from(line))) found.push(`${f}: a PEM line`);
    }
    if (bundle.includes(Buffer.from(authKey))) found.push('the pre-auth key');
    if (bundle.includes(Buffer.from(authKey.slice('rnk_'.length + 12 + 1)))) found.push("the pre-auth key's secret part");
    if (bundle.includes(Buffer.from(bearer))) found.push('the bearer token');
    if (bundle.includes(Buffer.from('opaque-token-value-123'))) found.push('a config member named token');
    expect(found).to.deep.equal([]);
    expect(bundle.toString('utf8')).to.contain('[REDACTED]');
  });

  it('without --out prints JSON; a bad --config is a usage error naming the file, nothing printed on stdout', async () => {
    const r = await rn(['debug', 'bundle', '--socket', socket()]);
    expect(r.code, r.stderr).to.equal(0);
    expect(JSON.parse(r.stdout)).to.have.property('bundleVersion', 1);
    const bad = await rn(['debug', 'bundle', '--config', join(dir, 'missing.json'), '--socket', socket()]);
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.contain('missing.json');
    expect(bad.stdout).to.equal('');
  });
});
