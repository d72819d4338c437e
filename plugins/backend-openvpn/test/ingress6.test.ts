/**
 * Unit tests of the IPv6 ingress filter (src/ingress6.ts): its nftables script, and that the
 * backend installs it on start (fail closed when nft cannot) and removes it on stop.
 * The filter's effect on real packets is proven by the conformance kit's
 * backend.isolation.spoofed-source-ipv6 and backend.changes.shrink-allowed-ips-ipv6.
 */
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isRustynetError, type CommandResult, type RunOptions } from '@rustynet/plugin-api';
import { OpenVpnBackend } from '../src/backend.js';
import { ingressScript, ingressTable } from '../src/ingress6.js';
import { generateKeyPair } from '../src/keys.js';
import { makeContext, MemoryLogger } from './support/context.js';
import { FakeRunner } from './support/fake-runner.js';

/** A fake runner whose `nft` fails. */
class NoNftRunner extends FakeRunner {
  override async run(file: string, args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    if (file === 'nft') return { stdout: '', stderr: 'Error: Could not process rule: Operation not supported', exitCode: 1 };
    return super.run(file, args, options);
  }
}

describe('OpenVPN backend: IPv6 ingress filter', () => {
  let root: string;
  let keyDir: string;
  const start = (runner: FakeRunner): { backend: OpenVpnBackend; run: Promise<void> } => {
    const backend = new OpenVpnBackend(makeContext({ runner, stateDir: join(root, 'state'), logger: new MemoryLogger() }));
    const run = backend.start({
      nodeId: 'b',
      addresses: ['100.64.0.2/32', 'fd00::2/128'],
      listenPort: 51000,
      interfaceName: 'rn0',
      keyDirectory: keyDir,
    });
    return { backend, run };
  };

  beforeEach(async () => {
    root = mkdtempSync(join(tmpdir(), 'rn-ovpn-ingress6-'));
    keyDir = join(root, 'keys');
    await generateKeyPair(keyDir);
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('the script replaces the table in one transaction and drops IPv6 whose source is not routed to the incoming device', () => {
    const s = ingressScript('rn0');
    expect(s.split('\n').slice(0, 3)).to.deep.equal([
      'table inet rustynet_ovpn_rn0',
      'delete table inet rustynet_ovpn_rn0',
      'table inet rustynet_ovpn_rn0 {',
    ]);
    expect(s).to.include('type filter hook prerouting priority -300; policy accept;');
    expect(s).to.match(/meta nfproto ipv6 iifname "rn0p\*" fib saddr \. iif oif missing counter drop/);
    expect(ingressTable('rn-x.1')).to.equal('rustynet_ovpn_rn_x_1');
  });

  it('start installs it with nft -f -, stop deletes the table', async () => {
    const runner = new FakeRunner();
    const { backend, run } = start(runner);
    await run;
    const install = runner.calls.filter((c) => c.file === 'nft');
    expect(install.map((c) => c.args)).to.deep.equal([['-f', '-']]);
    expect(install[0]?.input).to.equal(ingressScript('rn0'));
    await backend.stop();
    expect(runner.calls.filter((c) => c.file === 'nft').at(-1)!.args).to.deep.equal(['delete', 'table', 'inet', 'rustynet_ovpn_rn0']);
  });

  it('fails closed: when nft cannot install it, start fails with BACKEND_FAILED naming nft and the backend is not running', async () => {
    const { backend, run } = start(new NoNftRunner());
    const err: unknown = await run.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isRustynetError(err) && err.code).to.equal('BACKEND_FAILED');
    expect((err as Error).message).to.match(/nft could not install the IPv6 ingress filter/);
    const st: unknown = await backend.stats().catch((e: unknown) => e);
    expect(isRustynetError(st) && st.code).to.equal('NOT_RUNNING');
  });
});
