import { expect } from 'chai';
import { chmodSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isRustynetError } from '@rustynet/plugin-api';
import { createLogger } from '../src/services/logger.js';
import { ExecaCommandRunner, childEnv } from '../src/services/command-runner.js';
import { FileStateStore } from '../src/services/state-store.js';
import { PromMetrics, PrefixedMetrics } from '../src/services/metrics.js';
import { generateEd25519KeyPair, publicKeyFromPrivatePem, readPrivateKeyFile, writeKeyFile, KeyStore } from '../src/services/key-store.js';
import { captureStream, tmpDir } from './helpers.js';

describe('logger redaction', () => {
  it('never writes a private key from a log object', () => {
    const { pem } = { pem: generateEd25519KeyPair().privateKeyPem };
    const body = pem.split('\n')[1];
    const cap = captureStream();
    const log = createLogger({ level: 'trace', stream: cap.stream });
    log.info({ privateKey: pem }, 'top-level');
    log.info({ peer: { privateKey: pem } }, 'nested');
    log.info({ a: { b: { key: 'k-secret-1' } }, secret: 's-secret-2', password: 'p-secret-3', token: 't-secret-4' }, 'other names');
    log.info({ note: `here it is ${pem}` }, 'inside another field');
    log.warn(`message with ${pem}`);
    log.child({ plugin: 'x' }).error({ cfg: { pem } }, 'child');
    const out = cap.text();
    expect(out).not.to.include(body);
    expect(out).not.to.include('PRIVATE KEY-----');
    for (const s of ['k-secret-1', 's-secret-2', 'p-secret-3', 't-secret-4']) expect(out).not.to.include(s);
    expect(out).to.include('[Redacted]');
    expect(cap.lines()).to.have.length(6);
  });
});

describe('command runner', () => {
  const runner = new ExecaCommandRunner();

  it('passes input on stdin and an argument array without a shell', async () => {
    const r = await runner.run('cat', [], { input: 'hello stdin' });
    expect(r).to.deep.equal({ stdout: 'hello stdin', stderr: '', exitCode: 0 });
    const r2 = await runner.run('printf', ['%s', '$(id) ; echo x']);
    expect(r2.stdout).to.equal('$(id) ; echo x');
  });

  it('non-zero exit -> COMMAND_FAILED with {file,args,exitCode,stderr}', async () => {
    try {
      await runner.run('sh', ['-c', 'echo bad thing >&2; exit 3']);
      expect.fail('should throw');
    } catch (err) {
      expect(isRustynetError(err, 'COMMAND_FAILED')).to.equal(true);
      expect((err as { details: unknown }).details).to.deep.equal({
        file: 'sh',
        args: ['-c', 'echo bad thing >&2; exit 3'],
        exitCode: 3,
        stderr: 'bad thing\n',
      });
    }
    const r = await runner.run('sh', ['-c', 'exit 4'], { reject: false });
    expect(r.exitCode).to.equal(4);
  });

  it('a missing program -> COMMAND_FAILED', async () => {
    try {
      await runner.run('/nonexistent/program-x', []);
      expect.fail('should throw');
    } catch (err) {
      expect(isRustynetError(err, 'COMMAND_FAILED')).to.equal(true);
    }
  });

  it('the child env does not inherit the parent env', async () => {
    process.env.RUSTYNET_SECRET_TEST = 'hunter2';
    try {
      const r = await runner.run('env', [], { env: { EXTRA_VAR: '1' } });
      expect(r.stdout).not.to.include('RUSTYNET_SECRET_TEST');
      expect(r.stdout).not.to.include('hunter2');
      expect(r.stdout).to.include('EXTRA_VAR=1');
      expect(r.stdout).to.include('PATH=');
      expect(Object.keys(childEnv())).not.to.include('RUSTYNET_SECRET_TEST');
      const p = runner.spawn('env', []);
      await p.exited;
      expect(p.outputTail()).not.to.include('hunter2');
    } finally {
      delete process.env.RUSTYNET_SECRET_TEST;
    }
  });

  it('timeout -> TIMEOUT, abort -> ABORTED', async () => {
    try {
      await runner.run('sleep', ['5'], { timeoutMs: 50 });
      expect.fail('should throw');
    } catch (err) {
      expect(isRustynetError(err, 'TIMEOUT'), String(err)).to.equal(true);
    }
    const ac = new AbortController();
    const p = runner.run('sleep', ['5'], { signal: ac.signal });
    setTimeout(() => ac.abort(), 20);
    try {
      await p;
      expect.fail('should throw');
    } catch (err) {
      expect(isRustynetError(err, 'ABORTED'), String(err)).to.equal(true);
    }
  });

  it('spawn keeps a bounded output tail and reports the exit', async () => {
    const p = runner.spawn('sh', ['-c', 'i=0; while [ $i -lt 3000 ]; do echo line-$i; i=$((i+1)); done; echo to-stderr >&2; exit 2']);
    const r = await p.exited;
    expect(r.exitCode).to.equal(2);
    const tail = p.outputTail();
    expect(tail.length).to.be.at.most(8 * 1024);
    expect(tail).to.include('line-2999');
    expect(tail).to.include('to-stderr');
    expect(tail).not.to.include('line-0\n');
    const k = runner.spawn('sleep', ['10']);
    k.kill();
    expect((await k.exited).signal).to.equal('SIGTERM');
    const input = runner.spawn('cat', [], { input: 'fed' });
    await input.exited;
    expect(input.outputTail()).to.equal('fed');
  });
});

describe('state store', () => {
  it('writes atomically with 0600 files in a 0700 dir, reads back, deletes', async () => {
    const dir = join(tmpDir(), 'store');
    const s = new FileStateStore(dir);
    expect(await s.read('x')).to.equal(undefined);
    await s.write('x', { a: 1 });
    await s.write('x', { a: 2 });
    expect(await s.read('x')).to.deep.equal({ a: 2 });
    expect(statSync(dir).mode & 0o777).to.equal(0o700);
    expect(statSync(join(dir, 'x.json')).mode & 0o777).to.equal(0o600);
    expect(readdirSync(dir)).to.deep.equal(['x.json']);
    await s.delete('x');
    expect(await s.read('x')).to.equal(undefined);
    await s.write('y', 1).catch(() => undefined);
    for (const bad of ['../x', 'a/b', '', '..']) {
      try {
        await s.write(bad, 1);
        expect.fail('should throw');
      } catch (err) {
        expect(isRustynetError(err, 'INVALID_INPUT')).to.equal(true);
      }
    }
  });
});

describe('metrics', () => {
  it('returns the same metric for the same name and prefixes plugin metrics', async () => {
    const m = new PromMetrics();
    expect(m.counter('a_total', 'h')).to.equal(m.counter('a_total', 'h'));
    const p = new PrefixedMetrics(m);
    p.counter('hits_total', 'h', ['k']).inc({ k: 'v' }, 2);
    p.gauge('level', 'h').set(5);
    p.histogram('dur_seconds', 'h').observe(0.2);
    const text = await m.registry.metrics();
    expect(text).to.include('rustynet_plugin_hits_total{k="v"} 2');
    expect(text).to.include('rustynet_plugin_level 5');
    expect(text).to.include('rustynet_plugin_dur_seconds_count 1');
    expect(() => m.gauge('a_total', 'h')).to.throw(/already exists/);
    expect(() => m.counter('Bad-Name', 'h')).to.throw(/must match/);
  });
});

describe('key store', () => {
  it('writes 0600 key files, refuses group/other-readable ones, signs', async () => {
    const dir = join(tmpDir(), 'keys');
    const kp = generateEd25519KeyPair();
    expect(Buffer.from(kp.publicKeyB64, 'base64')).to.have.length(32);
    expect(publicKeyFromPrivatePem(kp.privateKeyPem)).to.equal(kp.publicKeyB64);
    const path = join(dir, 'identity.key');
    await writeKeyFile(path, kp.privateKeyPem);
    expect(statSync(path).mode & 0o777).to.equal(0o600);
    expect(statSync(dir).mode & 0o777).to.equal(0o700);
    expect(await readPrivateKeyFile(path)).to.equal(kp.privateKeyPem);
    const loose = join(dir, 'loose.key');
    writeFileSync(loose, kp.privateKeyPem);
    chmodSync(loose, 0o644);
    try {
      await readPrivateKeyFile(loose);
      expect.fail('should throw');
    } catch (err) {
      expect(isRustynetError(err, 'KEY_INVALID')).to.equal(true);
      expect((err as Error).message).to.include('0644');
    }
    const ks = new KeyStore();
    await ks.loadIdentity(path);
    expect(ks.publicKey()).to.equal(kp.publicKeyB64);
    expect(ks.sign(new Uint8Array([1, 2, 3]))).to.have.length(64);
  });
});
