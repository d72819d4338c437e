/**
 * The control plane's audit log on both engines: every admin change and enrolment is recorded
 * (no secrets), the log verifies, and each tampering is caught naming the first bad record:
 * an edited record (also with the chain recomputed), a deleted record, reordered records,
 * records cut from the end, a forged head. Two instances appending at once never fork the
 * chain; a backup and a restore are recorded and the restored log still verifies.
 */
import { expect } from 'chai';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { auditRecordHash, generateEd25519KeyPair, signAuditHead } from '@rustynet/daemon';
import {
  ControlService,
  auditTamperedError,
  backupControlPlane,
  controlAuditSigner,
  dbInt,
  listControlAudit,
  openDatabaseSpec,
  readSnapshot,
  restoreControlPlane,
  verifyControlAudit,
  type ControlAuditVerification,
  type OpenDatabase,
} from '../src/index.js';
import { DB_FILE } from '../src/db/open.js';
import { createKey, ENGINES, freshDatabase, newClient, startHarness, type Harness } from './helpers.js';

const ACL = { rules: [{ action: 'accept', src: ['*'], dst: ['*'], proto: 'any' }] };

for (const engine of ENGINES) {
  describe(`control: audit log [${engine}]`, function () {
    this.timeout(60_000);
    let h: Harness | undefined;
    let dataDir: string;
    let database: string | undefined;
    let authKeyText: string;

    const data = (): { dataDir: string; database?: string } => ({ dataDir, ...(database !== undefined && { database }) });
    const open = (): Promise<OpenDatabase> => openDatabaseSpec(database ?? join(dataDir, DB_FILE));
    const trusted = (): string[] => [(h as Harness).server.service.key.publicKey];
    const verify = async (): Promise<ControlAuditVerification> => verifyControlAudit({ ...data(), trustedKeys: trusted() });

    /** Runs raw changes on the database (the attacker: write access, no signing key). */
    async function tamper(fn: (d: OpenDatabase) => Promise<unknown>): Promise<void> {
      const d = await open();
      try {
        await fn(d);
      } finally {
        await d.close();
      }
    }

    beforeEach(async () => {
      dataDir = await mkdtemp(join(tmpdir(), 'rn-audit-'));
      database = await freshDatabase(engine);
      h = await startHarness({ engine, ...(database !== undefined && { database }) }, dataDir);
      const admin = h.admin;
      authKeyText = await createKey(admin, { reusable: true, tags: ['web'] }); // 1 authkey.create
      const node = newClient(h.server.url);
      await node.enrol({ authKey: authKeyText, name: 'alpha', keys: {} }); // 2 node.enrol
      await admin.call('POST', '/admin/v1/nodes/alpha/rename', { name: 'beta' }); // 3 node.rename
      await admin.call('POST', '/admin/v1/nodes/beta/tags', { tags: ['web', 'canary'] }); // 4 node.tags
      await admin.call('PUT', '/admin/v1/acl', { acl: ACL }); // 5 acl.set
      await admin.call('PUT', '/admin/v1/acl', { acl: ACL, canary: 'canary' }); // 6 acl.canary
      await admin.call('POST', '/admin/v1/acl/promote'); // 7 acl.promote
      const id = /^rnk_([0-9a-f]+)_/.exec(authKeyText)?.[1] ?? '';
      await admin.call('DELETE', `/admin/v1/keys/${id}`); // 8 authkey.revoke
      await admin.call('POST', '/admin/v1/nodes/beta/expire'); // 9 node.expire
      await admin.call('DELETE', '/admin/v1/nodes/beta'); // 10 node.delete
      // Refused changes store nothing and record nothing.
      await admin.call('POST', '/admin/v1/nodes/nobody/rename', { name: 'x' }).catch(() => undefined);
      await admin.call('GET', '/admin/v1/nodes');
    });
    afterEach(async () => {
      await h?.stop();
      h = undefined;
      await rm(dataDir, { recursive: true, force: true });
    });

    it('records every admin change and enrolment, with no secret, and verifies', async () => {
      const { records, verification } = await listControlAudit({ ...data(), trustedKeys: trusted() });
      expect(verification.ok, verification.reason).to.equal(true);
      expect(records.map((r) => r.type)).to.deep.equal([
        'authkey.create',
        'node.enrol',
        'node.rename',
        'node.tags',
        'acl.set',
        'acl.canary',
        'acl.promote',
        'authkey.revoke',
        'node.expire',
        'node.delete',
      ]);
      expect(records[1]?.data).to.include({ name: 'alpha', created: true });
      expect(records[0]?.data).to.include({ actor: 'admin', reusable: true });
      expect(records[2]?.data).to.include({ ref: 'alpha', newName: 'beta', name: 'beta' });
      expect(records.every((r) => r.publicKey === trusted()[0])).to.equal(true);
      // The whole database, audit tables included, holds no pre-auth key text and no private key.
      const d = await open();
      const dump = JSON.stringify(await readSnapshot(d));
      await d.close();
      // The secret part: the last 32 characters (24 random bytes, base64url, which may hold '_').
      const secret = authKeyText.slice(-32);
      expect(secret).to.have.lengthOf(32);
      expect(dump).to.not.include(secret);
      expect(dump).to.not.include('PRIVATE KEY');
      expect(JSON.stringify(records)).to.include(/^rnk_([0-9a-f]+)_/.exec(authKeyText)?.[1] ?? 'missing');
    });

    it('names an edited record, also when the chain after it was recomputed', async () => {
      await tamper((d) => d.db.updateTable('audit_log').set({ data: '{"actor":"admin","ref":"mallory"}' }).where('seq', '=', 3).execute());
      let v = await verify();
      expect(v).to.include({ ok: false, brokenAt: 3 });
      expect(v.reason).to.match(/edited/);
      // The attacker recomputes every hash and prev from record 3 on (signatures cannot be redone).
      await tamper(async (d) => {
        const rows = await d.db.selectFrom('audit_log').selectAll().orderBy('seq').execute();
        let prev = rows[1]?.hash ?? '';
        for (const r of rows.slice(2)) {
          const body = { seq: dbInt(r.seq), at: r.at, type: r.type, data: JSON.parse(r.data) as Record<string, unknown>, prev };
          const hash = auditRecordHash(body);
          await d.db.updateTable('audit_log').set({ prev, hash }).where('seq', '=', r.seq).execute();
          prev = hash;
        }
      });
      v = await verify();
      expect(v).to.include({ ok: false, brokenAt: 3 });
      expect(v.reason).to.match(/signature/);
      const err = auditTamperedError(v);
      expect(err.code).to.equal('AUDIT_TAMPERED');
      expect(err.message).to.include('record 3');
    });

    it('names a deleted record and reordered records', async () => {
      await tamper((d) => d.db.deleteFrom('audit_log').where('seq', '=', 4).execute());
      expect(await verify()).to.include({ ok: false, brokenAt: 4 });
      await h?.stop();
      h = undefined;
      // Fresh log for the reorder case.
      await rm(dataDir, { recursive: true, force: true });
      dataDir = await mkdtemp(join(tmpdir(), 'rn-audit-'));
      database = await freshDatabase(engine);
      h = await startHarness({ engine, ...(database !== undefined && { database }) }, dataDir);
      for (let i = 0; i < 4; i++) await createKey(h.admin);
      expect((await verify()).ok).to.equal(true);
      // Swap records 2 and 3 (sequence numbers exchanged: rows read in the new order).
      await tamper(async (d) => {
        await d.db.updateTable('audit_log').set({ seq: 1000 }).where('seq', '=', 2).execute();
        await d.db.updateTable('audit_log').set({ seq: 2 }).where('seq', '=', 3).execute();
        await d.db.updateTable('audit_log').set({ seq: 3 }).where('seq', '=', 1000).execute();
      });
      const v = await verify();
      expect(v).to.include({ ok: false, brokenAt: 2 });
      expect(v.reason).to.match(/prev/);
    });

    it('catches records cut from the end and a forged or foreign head', async () => {
      await tamper((d) => d.db.deleteFrom('audit_log').where('seq', '=', 10).execute());
      let v = await verify();
      expect(v).to.include({ ok: false, brokenAt: 10 });
      expect(v.reason).to.match(/truncated/);
      // The attacker also moves the head back, signing it with their own key.
      const foreign = generateEd25519KeyPair();
      await tamper(async (d) => {
        const last = await d.db.selectFrom('audit_log').selectAll().where('seq', '=', 9).executeTakeFirstOrThrow();
        const head = signAuditHead(
          { node: 'control-plane', seq: 9, hash: last.hash, at: last.at },
          controlAuditSigner({ privateKeyPem: foreign.privateKeyPem, publicKey: foreign.publicKeyB64, keyId: 'x' }),
        );
        await d.db
          .updateTable('audit_head')
          .set({ seq: 9, hash: last.hash, public_key: head.publicKey, signature: head.signature })
          .execute();
      });
      v = await verify();
      expect(v.ok).to.equal(false);
      expect(v.reason).to.match(/untrusted key/);
      // ... or claims the right key with a signature that is not its own.
      await tamper((d) =>
        d.db
          .updateTable('audit_head')
          .set({ public_key: trusted()[0] ?? '' })
          .execute(),
      );
      v = await verify();
      expect(v.ok).to.equal(false);
      expect(v.reason).to.match(/forged head/);
      // A deleted head.
      await tamper((d) => d.db.deleteFrom('audit_head').execute());
      expect((await verify()).reason).to.match(/head is missing/);
    });

    it('a change whose record cannot be written is not stored (same transaction)', async () => {
      const admin = (h as Harness).admin;
      // The audit table becomes unwritable (a damaged database, a revoked grant).
      await tamper((d) => d.db.schema.alterTable('audit_log').renameTo('audit_log_gone').execute());
      const before = (await admin.call('GET', '/admin/v1/keys')) as { keys: unknown[] };
      const refused = await admin.call('POST', '/admin/v1/keys', {}).catch((e: unknown) => e);
      // The database's error as the store maps it (no such table: INTERNAL); nothing stored.
      expect(['INTERNAL', 'STORAGE_FAILED']).to.include((refused as { code?: string }).code);
      const after = (await admin.call('GET', '/admin/v1/keys')) as { keys: unknown[] };
      expect(after.keys).to.have.length(before.keys.length);
      // Back in place: the change goes through and the log still verifies.
      await tamper((d) => d.db.schema.alterTable('audit_log_gone').renameTo('audit_log').execute());
      await createKey(admin);
      const v = await verify();
      expect(v.ok, v.reason).to.equal(true);
      expect(v.records).to.equal(11);
    });

    it('two instances appending at once keep one chain', async () => {
      const second = await ControlService.open({ dataDir, ...(database !== undefined && { database }) });
      try {
        const signer = controlAuditSigner(second.key);
        expect(signer.publicKey()).to.equal(trusted()[0]);
        const { auditAction } = await import('../src/audit/audit-context.js');
        await Promise.all(
          Array.from({ length: 12 }, (_, i) =>
            i % 2 === 0
              ? createKey((h as Harness).admin)
              : auditAction(signer, { type: 'authkey.create', actor: 'admin' }, () => second.createAuthKey({ reusable: false, tags: [] })),
          ),
        );
      } finally {
        await second.close();
      }
      const v = await verify();
      expect(v.ok, v.reason).to.equal(true);
      expect(v.records).to.equal(22);
    });

    it('records a backup and a restore; the restored log verifies and continues the backup chain', async () => {
      const out = join(dataDir, 'backup.json');
      await backupControlPlane({ ...data(), out }); // 11 control.backup
      await createKey((h as Harness).admin); // 12, lost by the restore
      await createKey((h as Harness).admin); // 13, lost by the restore
      await restoreControlPlane({ ...data(), file: out });
      const { records, verification } = await listControlAudit({ ...data(), trustedKeys: trusted() });
      expect(verification.ok, verification.reason).to.equal(true);
      expect(records.map((r) => r.type).slice(-2)).to.deep.equal(['node.delete', 'control.restore']);
      const restore = records.at(-1);
      expect(restore?.seq).to.equal(11);
      expect(restore?.data).to.include({ backupAuditRecords: 10, replacedAuditRecords: 13, lostAuditRecords: 3, file: 'backup.json' });
      // The backup's own record was made after its snapshot: it is in the next backup, not in this one.
      await backupControlPlane({ ...data(), out });
      const again = await listControlAudit({ ...data(), trustedKeys: trusted() });
      expect(again.records.at(-1)?.type).to.equal('control.backup');
      expect(again.verification.ok).to.equal(true);
    });
  });
}
