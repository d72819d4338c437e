import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { manifestSchema } from '@rustynet/plugin-api';
import { backendTests } from '../src/suites/backend/index.js';
import { ROOT } from './helpers/self-test.js';

/** Capability names of the manifest schema in core/plugin-api (every kind's). */
const schemaCapabilities = Object.keys(manifestSchema.properties.capabilities.properties);

/** Capability names in the manifest of a reference plugin (`plugins/<name>`, or a path from the root). */
function claimed(plugin: string): string[] {
  const dir = plugin.includes('/') ? join(ROOT, plugin) : join(ROOT, 'plugins', plugin);
  const m = JSON.parse(readFileSync(join(dir, 'rustynet-plugin.json'), 'utf8')) as { capabilities: object };
  return Object.keys(m.capabilities);
}

describe('capability honesty (unit)', () => {
  // examples/backend-fastd declares sessionReestablishSeconds (fastd's 15 s session hold)
  const backends = ['backend-wireguard', 'backend-openvpn', 'examples/backend-fastd'];
  const references = [...backends, 'policy-nftables', 'dns-magic', 'relay'];
  const backendCaps = schemaCapabilities.filter((k) => backends.some((p) => claimed(p).includes(k)));

  it('every capability of the manifest schema is declared by some reference plugin (so each kind list below is complete)', () => {
    const declared = new Set(references.flatMap(claimed));
    expect(schemaCapabilities.filter((k) => !declared.has(k))).to.deep.equal([]);
  });

  it('every backend capability has a test that fails when the claim is false (positive gate or covers)', () => {
    const covered = new Set(backendTests.flatMap((t) => [...(t.gate && !t.gate.startsWith('!') ? [t.gate] : []), ...(t.covers ?? [])]));
    expect(backendCaps.length).to.be.greaterThan(7);
    expect(
      backendCaps.filter((k) => !covered.has(k)),
      'backend capabilities without a covering test',
    ).to.deep.equal([]);
  });

  it('backend.changes.keepalive runs when persistentKeepalive is claimed or not declared (absent means true) and is skipped with the reason when false', async () => {
    const test = backendTests.find((t) => t.id === 'backend.changes.keepalive')!;
    expect(test.gate).to.equal('persistentKeepalive');
    const fx = (caps: object) =>
      ({ caps, manifest: { name: '@acme/backend-x' } }) as unknown as Parameters<NonNullable<typeof test.skipIf>>[0];
    expect(await test.skipIf!(fx({ roaming: true }))).to.equal(undefined);
    expect(await test.skipIf!(fx({ persistentKeepalive: true }))).to.equal(undefined);
    expect(await test.skipIf!(fx({ persistentKeepalive: false }))).to.match(/@acme\/backend-x declares persistentKeepalive false/);
  });
});
