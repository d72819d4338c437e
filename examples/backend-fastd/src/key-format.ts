/**
 * The one place that defines this plugin's key format. fastd authenticates peers with its
 * `ec25519-fhmqvc` handshake on Curve25519 keys, which fastd itself generates and prints
 * (fastd(1): `--generate-key`, `--show-key`, `--machine-readable`):
 *
 * - the secret key: 64 lowercase hex digits, on disk in the key directory (0700) only: as the
 *   bare hex in `fastd-secret.key` (0600, the form a key backup or the kit's leak check reads) and
 *   as the fastd config fragment `secret "<hex>";` in `fastd-secret.conf` (0600), which the
 *   node's `fastd.conf` includes (fastd has no option to read a bare key file): the secret is
 *   never on a command line, in an environment, in the state directory or in a log;
 * - the public key: 64 lowercase hex digits (fastd's own packed form, as `--show-key` prints it),
 *   in `fastd-public.key` (0600 like everything in the key directory), in the netmap
 *   (`node.keys.fastd`, {@link PEER_KEY_PATTERN}) and in a peer file (`key "<hex>";`);
 * - a peer file's name ({@link peerFileName}): `k` and the first 16 hex digits of the public key,
 *   so no name travels in the netmap and a changed key is a different fastd peer.
 *
 * The keys come from fastd and not from node:crypto's X25519: fastd stores its public key in
 * libuecc's packed form, not as an RFC 7748 u-coordinate, so only fastd can derive it.
 */

/** Secret key fragment in the key directory (`secret "<hex>";`, 0600), included by fastd.conf. */
export const SECRET_FILE = 'fastd-secret.conf';
/** The same secret key as bare hex (0600). */
export const SECRET_KEY_FILE = 'fastd-secret.key';
/** Public key file in the key directory (64 hex digits and a newline, 0600). */
export const PUBLIC_KEY_FILE = 'fastd-public.key';
/** A fastd key (secret or public) as `--machine-readable` prints it. Keep equal to `backend.peerKeySchema.pattern` in rustynet-plugin.json. */
export const PEER_KEY_PATTERN = /^[0-9a-f]{64}$/;

/** True when `key` is a fastd public key in netmap form. */
export function isPeerKey(key: unknown): key is string {
  return typeof key === 'string' && PEER_KEY_PATTERN.test(key);
}

/** The secret key file's content for a secret in hex. */
export function secretFileText(secretHex: string): string {
  return `secret "${secretHex}";\n`;
}

/** The peer file name (fastd's peer name) of the node holding `key`. */
export function peerFileName(key: string): string {
  return `k${key.slice(0, 16)}`;
}
