/**
 * Integration test (root, wireguard-go): wireguard-go dying after its control socket appeared and
 * before it served it (seen in CI: the socket file removed under it, `Failed to listen on uapi
 * socket`), so the first `wg set` of a start fails. The start is tried once more; a second such
 * death fails the start with wireguard-go's output, leaving no link, socket or process behind.
 *
 * The stand-in for wireguard-go leaves a file at the socket path and exits 1 for its first
 * `fails` runs, then execs the real wireguard-go.
 */
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { createPlugin } from '../src/index.js';
import { makeContext, tempDir } from './support/context.js';
import { caught } from './support/keys.js';
import { NetnsRunner } from './support/netns-runner.js';
import { TwoNs, sh } from './support/two-ns.js';
import { haveTools } from './support/wg-nodes.js';

/** A wireguard-go stand-in whose first `fails` runs die after "creating" the socket. @returns its path and its run counter file. */
function flakyWireguardGo(fails: number): { path: string; counter: string } {
  const dir = tempDir('rn-wg-flaky-');
  const counter = join(dir, 'runs');
  const path = join(dir, 'wireguard-go');
  writeFileSync(
    path,
    [
      '#!/bin/sh',
      `n=$(cat '${counter}' 2>/dev/null || echo 0)`,
      `echo $((n + 1)) > '${counter}'`,
      `if [ "$n" -lt ${fails} ]; then`,
      '  mkdir -p /var/run/wireguard',
      '  : > "/var/run/wireguard/$2.sock"',
      '  echo "ERROR: ($2) Failed to listen on uapi socket: no such file or directory" >&2',
      '  sleep 0.5',
      '  exit 1',
      'fi',
      'exec /usr/bin/wireguard-go "$@"',
      '',
    ].join('\n'),
  );
  chmodSync(path, 0o755);
  return { path, counter };
}

describe('WireGuard backend: wireguard-go exiting during setup (integration)', function () {
  this.timeout(60_000);
  let net: TwoNs | undefined;
  const stops: Array<() => Promise<void>> = [];

  before(async function () {
    if (!haveTools()) this.skip();
    net = await TwoNs.create();
  });

  after(async function () {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    net?.destroySync();
  });

  async function startWith(fails: number) {
    if (!net) throw new Error('no namespaces');
    const ifname = net.wgName('a');
    const keyDir = join(tempDir(), 'wireguard');
    const flaky = flakyWireguardGo(fails);
    const ctx = makeContext(new NetnsRunner(net.nsA), { userspace: 'always', wireguardGoPath: flaky.path });
    const plugin = createPlugin(ctx);
    stops.push(() => plugin.stop());
    await plugin.generateKeyPair(keyDir);
    const start = () =>
      plugin.start({ nodeId: 'a', interfaceName: ifname, addresses: ['100.64.78.1/32'], listenPort: 0, keyDirectory: keyDir });
    const runs = (): number => Number(readFileSync(flaky.counter, 'utf8').trim());
    return { plugin, ctx, ifname, start, runs };
  }

  it('one death during setup: the start is tried once more and succeeds', async () => {
    const { plugin, ctx, ifname, start, runs } = await startWith(1);
    await start();
    expect(runs(), 'wireguard-go runs').to.equal(2);
    expect((await plugin.stats()).interfaces).to.deep.equal([ifname]);
    const warn = ctx.logger.lines.find((l) => l.level === 'warn' && l.msg === 'wireguard-go exited during setup; starting it once more');
    expect(warn, ctx.logger.text()).to.not.equal(undefined);
    expect(JSON.stringify(warn?.obj)).to.include('Failed to listen on uapi socket');
    await plugin.stop();
    expect(existsSync(`/var/run/wireguard/${ifname}.sock`)).to.equal(false);
  });

  it('two deaths: BACKEND_FAILED with its output, nothing left behind, and a later start works', async () => {
    const { plugin, ifname, start, runs } = await startWith(2);
    const err = await caught(start);
    expect(err.code).to.equal('BACKEND_FAILED');
    expect(err.message).to.include('exited during setup twice').and.include('Failed to listen on uapi socket');
    expect(runs()).to.equal(2);
    expect(existsSync(`/var/run/wireguard/${ifname}.sock`), 'socket left').to.equal(false);
    const link = await sh('ip', ['-n', net!.nsA, 'link', 'show', 'dev', ifname]);
    expect(link.code, 'link left').to.not.equal(0);
    // nothing was half-started: the same instance starts on the next try (the stand-in now execs wireguard-go)
    await start();
    expect((await plugin.stats()).interfaces).to.deep.equal([ifname]);
    await plugin.stop();
  });
});
