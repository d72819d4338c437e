/**
 * Re-authentication of a node whose keys expired on the control plane (node key lifetime, see
 * `rustynet control serve --node-key-lifetime`). Polls then fail with `AUTH_FAILED`
 * (`node-key-expired`), and the node is out of every netmap. The operator writes a NEW pre-auth
 * key to `netmap.control.authKeyFile`; the daemon sees the file changed after its last enrolment
 * (mtime newer than the enrolment record) and re-enrols with it (same identity: same node id and
 * addresses). An old key file is never reused on its own, so expiry cannot renew itself.
 */
import { stat, utimes } from 'node:fs/promises';
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
  /** The enrolment record file (its mtime is the time of the last enrolment). */
  recordPath: string;
  name: string;
  /** The current backend public keys. */
  report: () => Promise<Record<string, string>>;
}

let running = false;

async function mtime(path: string): Promise<number> {
  return stat(path).then(
    (s) => s.mtimeMs,
    () => 0,
  );
}

/**
 * On a `node-key-expired` or `node-expired` refusal: re-enrols once when the pre-auth key file
 * is newer than the last enrolment, else logs what the operator must do. Never throws; one
 * attempt at a time.
 */
export function reenrolWhenExpired(err: Error, ctx: ReauthContext, log: (line: string) => void): void {
  if (!isRustynetError(err, 'AUTH_FAILED')) return;
  const reason = err.details?.['reason'];
  if (reason !== 'node-key-expired' && reason !== 'node-expired') return;
  if (running) return;
  running = true;
  void (async () => {
    const keyFile = ctx.control.authKeyFile;
    if ((await mtime(keyFile)) <= (await mtime(ctx.recordPath))) return;
    const authKey = await readSecretFile(keyFile, 'netmap.control.authKeyFile');
    const keys = await ctx.report();
    const reply = await ctx.client.enrol({ authKey, name: ctx.name, keys, endpoints: ctx.control.endpoints ?? [] });
    const now = new Date();
    await utimes(ctx.recordPath, now, now);
    log(`re-authenticated: re-enrolled as ${reply.node.id} with the new pre-auth key (netmap version ${reply.version})`);
  })()
    .catch((e: unknown) => log(`re-enrolment failed: ${e instanceof Error ? e.message : String(e)}`))
    .finally(() => {
      running = false;
    });
}
