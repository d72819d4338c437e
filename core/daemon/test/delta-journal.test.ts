import { expect } from 'chai';
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RustynetError, isRustynetError, type Netmap } from '@rustynet/plugin-api';
import { FileStateStore } from '../src/services/state-store.js';
import { NetmapTrust, type TrustedNetmap } from '../src/trust/netmap-trust.js';
import { JOURNAL_MAX_ENTRIES } from '../src/trust/delta-journal.js';
import { generateEd25519KeyPair } from '../src/services/key-store.js';
import { signNetmap } from '../src/trust/sign.js';
import { computeNetmapDelta, netmapDigest } from '../src/netmap/delta.js';
import { signNetmapDelta } from '../src/trust/delta-trust.js';
import { makeNetmap, tmpDir } from './helpers.js';

/** A FileStateStore whose next journal append writes half its line, then fails like a full disk. */
class FullDiskStore extends FileStateStore {
  failNextAppend = false;
  override async appendJournal(key: string, line: string): Promise<number> {
    if (!this.failNextAppend) return super.appendJournal(key, line);
    this.failNextAppend = false;
    appendFileSync(join(this.dir, `${key}.jsonl`), line.slice(0, line.length >> 1));
    throw new RustynetError('STATE_WRITE_FAILED', 'cannot append to state: ENOSPC', { details: { errno: 'ENOSPC' } });
  }
}

describe('delta journal: a delta-derived netmap persisted as one appended line', () => {
  const cp = generateEd25519KeyPair();
  let dir: string;
  let store: FullDiskStore;
  let trust: NetmapTrust;
  let current: Netmap;
  const journal = (): string => join(dir, 'netmap-journal.jsonl');
  const lines = (): string[] => (existsSync(journal()) ? readFileSync(journal(), 'utf8').split('\n').slice(0, -1) : []);

  /** Verifies, records the intent, "applies" and commits, as Ingest does. */
  async function applyAndCommit(t: TrustedNetmap): Promise<void> {
    await trust.recordIntent(t);
    await trust.commit(t);
    expect(await trust.clearIntent()).to.equal(undefined);
  }
  /** The signed delta from the current map to `change(current)` (next version), verified. */
  async function nextDelta(change: (m: Netmap) => void, t: NetmapTrust = trust): Promise<TrustedNetmap> {
    const next = structuredClone(current);
    next.version++;
    change(next);
    const delta = signNetmapDelta(computeNetmapDelta(current, next)!, cp.privateKeyPem);
    const base = { netmap: current, digest: netmapDigest(current), signed: {}, status: 'new' } as unknown as TrustedNetmap;
    const r = await t.checkDelta(delta, base);
    current = next;
    return r;
  }
  const endpoint = (port: number) => (m: Netmap) => void (m.nodes[3].endpoints = [{ host: '198.18.0.4', port }]);

  beforeEach(async () => {
    dir = tmpDir('rn-journal-');
    store = new FullDiskStore(dir);
    trust = new NetmapTrust(cp.publicKeyB64, store);
    current = makeNetmap(20, 1);
    await applyAndCommit(await trust.check(signNetmap(current, cp.privateKeyPem)));
  });

  it('appends one line per committed delta, no intent file and no whole-map write; a restart re-derives the map', async () => {
    const lastGoodBytes = readFileSync(join(dir, 'last-good-netmap.json'));
    await applyAndCommit(await nextDelta(endpoint(4001)));
    await applyAndCommit(await nextDelta(endpoint(4002)));
    expect(lines()).to.have.length(2);
    expect(existsSync(join(dir, 'netmap-intent.json'))).to.equal(false);
    expect(readFileSync(join(dir, 'last-good-netmap.json')).equals(lastGoodBytes)).to.equal(true);
    const again = await new NetmapTrust(cp.publicKeyB64, new FileStateStore(dir)).lastGood();
    expect(again?.netmap.version).to.equal(3);
    expect(again?.digest).to.equal(netmapDigest(current));
    expect(again?.netmap.nodes[3].endpoints).to.deep.equal([{ host: '198.18.0.4', port: 4002 }]);
  });

  it('a torn last line (crash mid-append) is ignored: base + the valid prefix; the next map is written whole', async () => {
    await applyAndCommit(await nextDelta(endpoint(4001)));
    appendFileSync(journal(), '{"delta":{"kind":"netmap-de');
    const restarted = new NetmapTrust(cp.publicKeyB64, new FileStateStore(dir));
    expect((await restarted.lastGood())?.netmap.version).to.equal(2);
    expect(await restarted.recordedIntent()).to.equal(undefined);
    trust = restarted;
    await applyAndCommit(await nextDelta(endpoint(4002)));
    expect(lines()).to.deep.equal([]); // compacted: the whole map is the new base
    expect((await new NetmapTrust(cp.publicKeyB64, new FileStateStore(dir)).lastGood())?.netmap.version).to.equal(3);
  });

  it('a changed byte in a committed line: the chain stops before it and the last good map is refused (never an unverified map)', async () => {
    await applyAndCommit(await nextDelta(endpoint(4001)));
    await applyAndCommit(await nextDelta(endpoint(4002)));
    const text = readFileSync(journal(), 'utf8');
    writeFileSync(journal(), text.replace('"port":4001', '"port":4009'));
    const restarted = new NetmapTrust(cp.publicKeyB64, new FileStateStore(dir));
    expect(await restarted.lastGood()).to.equal(undefined);
    expect(await restarted.recordedIntent()).to.equal(undefined);
  });

  it('a crash after the append, before the commit: a restart finds the line as a newer unfinished apply', async () => {
    await applyAndCommit(await nextDelta(endpoint(4001)));
    const t = await nextDelta(endpoint(4002));
    await trust.recordIntent(t); // durable; the daemon dies before the data plane answers
    const restarted = new NetmapTrust(cp.publicKeyB64, new FileStateStore(dir));
    const intent = await restarted.recordedIntent();
    expect(intent?.kind).to.equal('newer');
    if (intent?.kind !== 'newer') return;
    expect(intent.trusted.netmap.version).to.equal(3);
    expect(intent.trusted.status).to.equal('new');
    expect((await restarted.lastGood())?.netmap.version).to.equal(2);
    // Applying it adopts the line already there (no second line), the commit makes it last good.
    trust = restarted;
    await applyAndCommit(intent.trusted);
    expect(lines()).to.have.length(2);
    expect((await new NetmapTrust(cp.publicKeyB64, new FileStateStore(dir)).lastGood())?.netmap.version).to.equal(3);
  });

  it('a stale apply intent file (an older map, its delete failed) does not hide a newer journal line', async () => {
    writeFileSync(join(dir, 'netmap-intent.json'), JSON.stringify(signNetmap(current, cp.privateKeyPem)));
    await trust.recordIntent(await nextDelta(endpoint(4001))); // the daemon dies before the commit
    const intent = await new NetmapTrust(cp.publicKeyB64, new FileStateStore(dir)).recordedIntent();
    expect(intent?.kind).to.equal('newer');
    expect(intent?.kind === 'newer' && intent.trusted.netmap.version).to.equal(2);
  });

  it('a start with nothing above the watermark in the journal does not read or verify the last good map', async () => {
    await applyAndCommit(await nextDelta(endpoint(4001)));
    const reads: string[] = [];
    const spy = new FileStateStore(dir);
    const read = spy.read.bind(spy);
    spy.read = <T>(key: string) => (reads.push(key), read<T>(key));
    expect(await new NetmapTrust(cp.publicKeyB64, spy).recordedIntent()).to.equal(undefined);
    expect(reads).to.not.include('last-good-netmap');
  });

  it('a failed apply cuts its line off again: the journal ends with the last good map', async () => {
    await applyAndCommit(await nextDelta(endpoint(4001)));
    const before = readFileSync(journal(), 'utf8');
    const good = current;
    const failed = await nextDelta(endpoint(4002));
    await trust.recordIntent(failed);
    expect(lines()).to.have.length(2);
    expect(await trust.clearIntent()).to.equal(undefined); // the data plane apply failed
    expect(readFileSync(journal(), 'utf8')).to.equal(before);
    current = good; // the next delta is based on the last good map again
    await applyAndCommit(await nextDelta(endpoint(4003)));
    expect(lines()).to.have.length(2);
    expect((await new NetmapTrust(cp.publicKeyB64, new FileStateStore(dir)).lastGood())?.netmap.nodes[3].endpoints[0].port).to.equal(4003);
  });

  it('disk full while appending: STATE_WRITE_FAILED, the partial line is cut off, the last good map is kept', async () => {
    await applyAndCommit(await nextDelta(endpoint(4001)));
    const before = readFileSync(journal(), 'utf8');
    const t = await nextDelta(endpoint(4002));
    store.failNextAppend = true;
    let err: unknown;
    await trust.recordIntent(t).catch((e: unknown) => (err = e));
    expect(isRustynetError(err, 'STATE_WRITE_FAILED'), String(err)).to.equal(true);
    expect(readFileSync(journal(), 'utf8')).to.equal(before);
    const restarted = new NetmapTrust(cp.publicKeyB64, new FileStateStore(dir));
    expect((await restarted.lastGood())?.netmap.version).to.equal(2);
    expect(await restarted.recordedIntent()).to.equal(undefined);
  });

  it(`compacts after ${JOURNAL_MAX_ENTRIES} lines: the next map is written whole and the journal emptied`, async () => {
    for (let i = 0; i < JOURNAL_MAX_ENTRIES; i++) await applyAndCommit(await nextDelta(endpoint(5000 + i)));
    expect(lines()).to.have.length(JOURNAL_MAX_ENTRIES);
    await applyAndCommit(await nextDelta(endpoint(6000)));
    expect(existsSync(journal())).to.equal(false);
    await applyAndCommit(await nextDelta(endpoint(6001)));
    expect(lines()).to.have.length(1);
    const again = await new NetmapTrust(cp.publicKeyB64, new FileStateStore(dir)).lastGood();
    expect(again?.netmap.version).to.equal(JOURNAL_MAX_ENTRIES + 3);
    expect(again?.digest).to.equal(netmapDigest(current));
  });

  it('an expired base under a valid journal: the last good map is the valid tip; an expired tip is refused', async () => {
    const t0 = Date.now();
    let now = t0;
    dir = tmpDir('rn-journal-');
    trust = new NetmapTrust(cp.publicKeyB64, new FileStateStore(dir), { now: () => now });
    current = makeNetmap(5, 1, t0);
    current.expiresAt = new Date(t0 + 60_000).toISOString();
    await applyAndCommit(await trust.check(signNetmap(current, cp.privateKeyPem)));
    await applyAndCommit(await nextDelta((m) => (m.expiresAt = new Date(t0 + 3_600_000).toISOString())));
    now = t0 + 120_000; // the base has expired, the map of the journal's line has not
    expect((await new NetmapTrust(cp.publicKeyB64, new FileStateStore(dir), { now: () => now }).lastGood())?.netmap.version).to.equal(2);
    now = t0 + 7_200_000;
    let err: unknown;
    await new NetmapTrust(cp.publicKeyB64, new FileStateStore(dir), { now: () => now }).lastGood().catch((e: unknown) => (err = e));
    expect(isRustynetError(err, 'NETMAP_EXPIRED'), String(err)).to.equal(true);
  });
});
