/**
 * Re-authentication of a node whose keys expired on the control plane (node key lifetime, see
 * `rustynet control serve --node-key-lifetime`). Polls then fail with `AUTH_FAILED`
 * (`node-key-expired`), and the node is out of every netmap. The operator writes a NEW pre-auth
 * key to `netmap.control.authKeyFile`; the daemon sees the file changed after its last enrolment
 * (mtime newer than the enrolment record) and re-enrols with it (same identity: same node id and
 * addresses). An old key file is never reused on its own, so expiry cannot renew itself.
 */
import { stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { ControlSourceConfig } from '@rustynet/daemon';
import { isRustynetError } from '@rustynet/plugin-api';
import type { ControlClient } from '@rustynet/control/client';
import type { DaemonConfig } from './daemon-api.js';
import { readSecretFile } from './control-source.js';

/** What a re-enrolment needs. */
export interface ReauthContext {
  config: DaemonConfig;
  control: ControlSourceConfig;
  client: ControlClient;
  /** The enrolment record file (its mtime is the time of the first enrolment). */
  recordPath: string;
  name: string;
  /** The current backend public keys. */
  report: () => Promise<Record<string, string>>;
}

let running = false;

/** File in the state directory whose mtime is the time of the last re-enrolment (no secrets). */
export const REAUTH_STAMP = 'control-reauth.stamp';

async function mtime(path: string): Promise<number> {
  return stat(path).then(
    (s) => s.mtimeMs,
    () => 0,
  );
}

/**
 * Re-enrols when the pre-auth key file is newer than the last enrolment.
 * @returns the re-enrolment's node id and version, or null when the key file did not change.
 * @throws RustynetError from the key file (`CONFIG_INVALID`) or the enrolment (`AUTH_FAILED`, ...).
 */
export async function reenrolIfKeyRenewed(ctx: ReauthContext): Promise<{ nodeId: string; version: number } | null> {
  const keyFile = ctx.control.authKeyFile;
  const stamp = join(dirname(ctx.recordPath), REAUTH_STAMP);
  const lastEnrolment = Math.max(await mtime(ctx.recordPath), await mtime(stamp));
  if ((await mtime(keyFile)) <= lastEnrolment) return null;
  const authKey = await readSecretFile(keyFile, 'netmap.control.authKeyFile');
  const keys = await ctx.report();
  const reply = await ctx.client.enrol({ authKey, name: ctx.name, keys, endpoints: ctx.control.endpoints ?? [] });
  await writeFile(stamp, `${new Date().toISOString()}\n`, { mode: 0o600 });
  return { nodeId: reply.node.id, version: reply.version };
}

/**
 * On a `node-key-expired` or `node-expired` refusal: {@link reenrolIfKeyRenewed} in the
 * background, one attempt at a time; logs the outcome. Never throws.
 */
export function reenrolWhenExpired(err: Error, ctx: ReauthContext, log: (line: string) => void): void {
  if (!isRustynetError(err, 'AUTH_FAILED')) return;
  const reason = err.details?.['reason'];
  if ((reason !== 'node-key-expired' && reason !== 'node-expired') || running) return;
  running = true;
  reenrolIfKeyRenewed(ctx)
    .then((r) => {
      if (r) log(`re-authenticated: re-enrolled as ${r.nodeId} with the new pre-auth key (netmap version ${r.version})`);
    })
    .catch((e: unknown) => log(`re-enrolment failed: ${e instanceof Error ? e.message : String(e)}`))
    .finally(() => {
      running = false;
    });
}
