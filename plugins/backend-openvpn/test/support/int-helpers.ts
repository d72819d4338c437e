/**
 * Helpers of the namespace integration tests (backend.int.test.ts): error and link checks, a
 * bounded wait, and the hand-written plain openvpn config of docs/backends/openvpn.md.
 */
import { expect } from 'chai';
import { join } from 'node:path';
import { isRustynetError, type RustynetError } from '@rustynet/plugin-api';
import { CERT_FILE, KEY_FILE } from '../../src/keys.js';
import { BASE_PORT, type MeshNode } from './mesh.js';
import type { TestNet } from './netns.js';

/** Asserts that `p` rejects with a RustynetError of `code`, and returns it. */
export async function expectCode(p: Promise<unknown>, code: string): Promise<RustynetError> {
  try {
    await p;
  } catch (err) {
    expect(isRustynetError(err), String(err)).to.equal(true);
    expect((err as RustynetError).code).to.equal(code);
    return err as RustynetError;
  }
  expect.fail(`expected ${code}`);
}

/** The link names in namespace `ns` (`ip -o link show`). */
export function linkNames(net: TestNet, ns: string): string[] {
  return net
    .exec(ns, 'ip', ['-o', 'link', 'show'])
    .stdout.split('\n')
    .map((l) => /^\d+: ([^:@]+)/.exec(l)?.[1])
    .filter((x): x is string => !!x);
}

/** Polls `cond` every `stepMs` until it holds (true) or `timeoutMs` passed (false). */
export async function waitFor(cond: () => Promise<boolean> | boolean, timeoutMs: number, stepMs = 250): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await cond()) return true;
    await new Promise((r) => setTimeout(r, stepMs));
  }
  return false;
}

/**
 * The plain openvpn config (docs/backends/openvpn.md) node `c` (100.64.0.3) runs instead of the
 * plugin towards node `a` (100.64.0.1): a < c, so c is the TLS client; ports per the documented rule.
 */
export function plainClientConfig(c: MeshNode, a: MeshNode): string {
  return (
    [
      'dev tun',
      'proto udp',
      `lport ${BASE_PORT + 582}`, // c's base + offset(a): digits of 100.64.0.1 in base 1024 sum to 582
      `remote ${a.host.underlay} ${BASE_PORT + 584}`, // a's base + offset(c) (100.64.0.3 -> 584)
      'float',
      'tls-client',
      `cert ${join(c.keyDir, CERT_FILE)}`,
      `key ${join(c.keyDir, KEY_FILE)}`,
      `peer-fingerprint ${a.fingerprint}`,
      'data-ciphers AES-256-GCM:CHACHA20-POLY1305',
      `ifconfig ${c.v4} ${a.v4}`,
      'tun-mtu 1420',
      'ping 5',
      'ping-restart 20',
      'verb 3',
    ].join('\n') + '\n'
  );
}
