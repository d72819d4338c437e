import { expect } from 'chai';
import { generateKeyPairSync, sign as cryptoSign, createPublicKey, type KeyObject } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AuditLog, auditRecordHash, type AuditRecord } from '../src/audit/audit-log.js';
import type { AuditSigner } from '../src/audit/audit-head.js';
import { verifyAuditLog } from '../src/audit/audit-verify.js';
import { tmpDir } from './helpers.js';

function signerOf(key: KeyObject): AuditSigner {
  const x = createPublicKey(key).export({ format: 'jwk' }).x!;
  const pub = Buffer.from(x, 'base64url').toString('base64');
  return { publicKey: () => pub, sign: (d) => new Uint8Array(cryptoSign(null, d, key)) };
}

const readLines = (path: string): string[] => readFileSync(path, 'utf8').trim().split('\n');
const writeLines = (path: string, lines: string[]): void => writeFileSync(path, `${lines.join('\n')}\n`);

/** Rewrites records so the chain is valid again from `from` (0-based) on: what a careful attacker does. */
function rechain(lines: string[], from = 0): string[] {
  const recs = lines.map((l) => JSON.parse(l) as AuditRecord);
  for (let i = from; i < recs.length; i++) {
    recs[i].seq = i + 1;
    recs[i].prev = i === 0 ? '0'.repeat(64) : recs[i - 1].hash;
    recs[i].hash = auditRecordHash(recs[i]);
  }
  return recs.map((r) => JSON.stringify(r));
}

describe('audit log', () => {
  const key = generateKeyPairSync('ed25519').privateKey;
  const signer = signerOf(key);
  let dir: string;
  let path: string;
  let headPath: string;
  const verify = (opts: { publicKey?: string } = { publicKey: signer.publicKey() }): ReturnType<typeof verifyAuditLog> =>
    verifyAuditLog(path, { headPath, ...opts });

  beforeEach(async () => {
    dir = tmpDir();
    path = join(dir, 'audit.log');
    headPath = join(dir, 'audit.head');
    const a = new AuditLog(path);
    a.attachSigner('a', signer);
    await a.append('daemon.start', { node: 'a' });
    await Promise.all([a.append('netmap.accepted', { version: 1 }), a.append('apply', { peersUpserted: 2 })]);
    const b = new AuditLog(path);
    b.attachSigner('a', signer);
    await b.append('down');
    await b.append('up');
  });

  it('chains records, signs the head after every append (both files 0600); an untouched log verifies', async () => {
    expect(statSync(path).mode & 0o777).to.equal(0o600);
    expect(statSync(headPath).mode & 0o777).to.equal(0o600);
    const v = await verify();
    expect(v).to.include({ ok: true, records: 5, signed: true, unsignedTail: 0 });
    expect(v.head).to.include({ seq: 5, node: 'a' });
  });

  it('detects an edited record, also with the chain recomputed', async () => {
    const lines = readLines(path);
    lines[1] = lines[1].replace('"version":1', '"version":9');
    writeLines(path, lines);
    expect(await verify()).to.include({ ok: false, brokenAt: 2 });
    writeLines(path, rechain(lines, 1));
    const v = await verify();
    expect(v).to.include({ ok: false, brokenAt: 5 });
    expect(v.reason).to.match(/rewritten/);
  });

  it('detects a deleted record, also renumbered and re-chained', async () => {
    const lines = readLines(path);
    const without = [lines[0], ...lines.slice(2)];
    writeLines(path, without);
    const v = await verify();
    expect(v).to.include({ ok: false, brokenAt: 2 });
    expect(v.reason).to.match(/deleted or reordered/);
    writeLines(path, rechain(without));
    const w = await verify();
    expect(w.ok).to.equal(false);
    expect(w.reason).to.match(/truncated/);
  });

  it('detects truncation: last records cut, the whole log emptied or removed', async () => {
    const lines = readLines(path);
    writeLines(path, lines.slice(0, 3));
    const v = await verify();
    expect(v).to.include({ ok: false, records: 3, brokenAt: 4 });
    expect(v.reason).to.match(/truncated: the signed head covers 5 records, the log has 3/);
    writeFileSync(path, '');
    expect((await verify()).ok).to.equal(false);
    rmSync(path);
    expect((await verify()).ok).to.equal(false);
  });

  it('detects a deleted, forged or foreign-key head', async () => {
    const head = readFileSync(headPath, 'utf8');
    rmSync(headPath);
    expect((await verify()).reason).to.match(/no signed head/);
    const h = JSON.parse(head) as Record<string, unknown>;
    writeFileSync(headPath, JSON.stringify({ ...h, seq: 3, hash: (JSON.parse(readLines(path)[2]) as AuditRecord).hash }));
    expect((await verify()).reason).to.match(/signature does not verify/);
    // A head re-signed by another key (an attacker's) after truncation.
    const other = signerOf(generateKeyPairSync('ed25519').privateKey);
    const t = new AuditLog(join(dir, 'x.log'));
    t.attachSigner('a', other);
    await t.append('up');
    writeFileSync(headPath, readFileSync(join(dir, 'x.head')));
    expect((await verify()).reason).to.match(/not by this node's identity key/);
  });

  it('reports records appended after the head (a crash before the head write) as an unsigned tail', async () => {
    const lines = readLines(path);
    const last = JSON.parse(lines[4]) as AuditRecord;
    const extra = { seq: 6, at: last.at, type: 'down', data: {}, prev: last.hash };
    writeLines(path, [...lines, JSON.stringify({ ...extra, hash: auditRecordHash(extra) })]);
    expect(await verify()).to.include({ ok: true, records: 6, signed: true, unsignedTail: 1 });
  });

  it('appendHeadLater: answers once the records are in the log; one head covering both follows before any later record', async () => {
    const a = new AuditLog(path);
    a.attachSigner('a', signer);
    const [r1, r2] = await Promise.all([
      a.appendHeadLater('netmap.accepted', { version: 2 }),
      a.appendHeadLater('apply', { peersUpserted: 1 }),
    ]);
    expect([r1.seq, r2.seq]).to.deep.equal([6, 7]);
    expect(readLines(path)).to.have.length(7);
    await a.append('down'); // queued after the head job: the head is written by then
    const v = await verify();
    expect(v).to.include({ ok: true, records: 8, signed: true, unsignedTail: 0 });
    // Without a later append the head still arrives: flush waits for the queued head.
    const b = new AuditLog(path);
    b.attachSigner('a', signer);
    await b.appendHeadLater('up');
    expect((await verify()).unsignedTail).to.be.at.most(1); // the head may not be written yet
    await b.flush();
    expect(await verify()).to.include({ ok: true, records: 9, unsignedTail: 0 });
  });

  it('appendHeadLater: a failing head write is reported (onHeadError) and the record stays', async () => {
    const errors: unknown[] = [];
    const a = new AuditLog(path, Date.now, { headPath: join(dir, 'missing-dir', 'audit.head'), onHeadError: (e) => errors.push(e) });
    a.attachSigner('a', signer);
    await a.appendHeadLater('up');
    await a.flush();
    expect(errors).to.have.length(1);
    expect(readLines(path)).to.have.length(6);
  });

  it('the start-up check passes an untouched log and keeps appending to it', async () => {
    const a = new AuditLog(path);
    a.attachSigner('a', signer);
    const check = await a.checkAtStartup();
    expect(check.verification.ok).to.equal(true);
    expect(check.movedTo).to.equal(undefined);
    expect((await a.append('down')).seq).to.equal(6);
    expect(await verify()).to.include({ ok: true, records: 6 });
  });

  it('the start-up check moves a tampered log aside and starts a new, valid segment naming the reason', async () => {
    writeLines(path, readLines(path).slice(0, 2));
    const a = new AuditLog(path);
    a.attachSigner('a', signer);
    const check = await a.checkAtStartup();
    expect(check.verification.ok).to.equal(false);
    expect(check.movedTo).to.not.equal(undefined);
    expect(existsSync(check.movedTo!.log)).to.equal(true);
    expect(existsSync(check.movedTo!.head)).to.equal(true);
    await a.append('daemon.start', { node: 'a' });
    const v = await verify();
    expect(v).to.include({ ok: true, records: 2, signed: true });
    expect(v.segment).to.include({ brokenAt: 3, previousRecords: 2 });
    expect(String(v.segment!['reason'])).to.match(/truncated/);
    expect(readdirSync(dir).filter((f) => f.includes('.broken-'))).to.have.length(2);
  });

  it('a corrupt last line (not JSON) is a broken log at start-up, not a daemon that cannot append', async () => {
    writeFileSync(path, `${readFileSync(path, 'utf8')}{"seq":6,"half`);
    const a = new AuditLog(path);
    a.attachSigner('a', signer);
    const check = await a.checkAtStartup();
    expect(check.verification).to.include({ ok: false, brokenAt: 6 });
    expect((await a.append('up')).seq).to.equal(2);
  });

  it('without a signer the chain alone is checked (no head written)', async () => {
    const p = join(tmpDir(), 'audit.log');
    const a = new AuditLog(p);
    await a.append('up');
    expect(existsSync(join(p, '..', 'audit.head'))).to.equal(false);
    expect(await verifyAuditLog(p)).to.include({ ok: true, records: 1, signed: false });
  });
});
