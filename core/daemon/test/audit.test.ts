import { expect } from 'chai';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AuditLog, verifyAuditLog } from '../src/audit/audit-log.js';
import { tmpDir } from './helpers.js';

describe('audit log', () => {
  it('chains records by hash, survives reopen, detects edits', async () => {
    const path = join(tmpDir(), 'audit.log');
    const a = new AuditLog(path);
    await a.append('daemon.start', { node: 'a' });
    await Promise.all([a.append('netmap.accepted', { version: 1 }), a.append('apply', { peersUpserted: 2 })]);
    const b = new AuditLog(path);
    const r = await b.append('down');
    expect(r.seq).to.equal(4);
    expect(statSync(path).mode & 0o777).to.equal(0o600);
    expect(await verifyAuditLog(path)).to.deep.equal({ ok: true, records: 4 });
    const lines = readFileSync(path, 'utf8').trim().split('\n');
    lines[1] = lines[1].replace('"version":1', '"version":9');
    writeFileSync(path, `${lines.join('\n')}\n`);
    const v = await verifyAuditLog(path);
    expect(v.ok).to.equal(false);
    expect(v.brokenAt).to.equal(2);
    writeFileSync(path, `${[lines[0], lines[2], lines[3]].join('\n')}\n`);
    expect((await verifyAuditLog(path)).ok).to.equal(false);
  });
});
