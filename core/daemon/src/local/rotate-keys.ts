/**
 * The daemon's side of `rustynet rotate-keys` (POST /v1/rotate-keys on the local API).
 *
 * The daemon itself does not talk to the control plane: the program that embeds it (`rustynetd`
 * with `netmap.control`) passes `DaemonOptions.rotateKeys`, which makes the new keys, has the
 * control plane accept them and installs the key files, then calls {@link applyRotatedKeys}
 * through `Daemon.applyRotatedKeys`. A daemon on the file flow (a signed netmap file or URL, no
 * control plane) refuses: its netmap is signed offline, so new public keys must go into the
 * netmap by the operator first (see docs/operations/key-rotation.md, "Node keys").
 */
import { RustynetError } from '@rustynet/plugin-api';
import type { Session } from './session.js';

/** The refusal of a daemon without a control plane. */
export function rotateKeysUnsupported(): RustynetError {
  return new RustynetError(
    'UNSUPPORTED',
    'rotate-keys needs a control plane (netmap.control): on the file flow, generate new keys with `rustynet keygen --dir <new dir>`, ' +
      'put the new public keys into the netmap, sign and publish it, then point backend.keyDirectory/identityKeyFile at the new files ' +
      'and restart rustynetd (see docs/operations/key-rotation.md)',
    { field: 'netmap' },
  );
}

/**
 * Switches a running daemon to key files that were just replaced: reloads the identity key (it
 * signs path probes, relay registrations and the audit head) and stops the data plane, so that
 * the caller's `up()` starts the backend again with the new private key from `keyDirectory`.
 * Runs inside the daemon's serialiser.
 * @throws RustynetError `KEY_INVALID` (new identity file unreadable: nothing was stopped).
 */
export async function applyRotatedKeys(s: Session, identityKeyFile: string | undefined): Promise<void> {
  if (identityKeyFile !== undefined) await s.components.keyStore.loadIdentity(identityKeyFile);
  await s.dataPlane.stop();
  await s.audit.append('keys.rotated', identityKeyFile !== undefined ? { identityKey: s.components.keyStore.publicKey() } : {});
  s.logger.info('keys rotated: restarting the data plane with the new backend key');
}
