import { expect } from 'chai';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PluginContext } from '@rustynet/plugin-api';
import { CAPABILITIES, createPlugin } from '../src/index.js';

const noop = (): void => undefined;
const logger = { trace: noop, debug: noop, info: noop, warn: noop, error: noop, child: () => logger };
function ctx(dir: string): PluginContext {
  return {
    pluginName: 'template',
    apiVersion: '1.0',
    options: {},
    logger,
    runner: {
      run: async () => ({ stdout: '', stderr: '', exitCode: 0 }),
      spawn: () => {
        throw new Error('no');
      },
    },
    metrics: { counter: () => ({ inc: noop }), gauge: () => ({ set: noop }), histogram: () => ({ observe: noop }) },
    clock: { now: () => Date.now(), sleep: async () => undefined },
    state: { dir, read: async () => undefined, write: async () => undefined, delete: async () => undefined },
    hooks: {} as PluginContext['hooks'],
  };
}

describe('backend template (unit)', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'tmpl-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('reports its capabilities', () => {
    expect(createPlugin(ctx(dir)).capabilities()).to.deep.equal(CAPABILITIES);
  });

  it('writes a 0600 private key in a 0700 directory', async () => {
    const p = createPlugin(ctx(dir));
    const kp = await p.generateKeyPair(join(dir, 'k'));
    expect(statSync(join(dir, 'k')).mode & 0o777).to.equal(0o700);
    expect(statSync(kp.files[0]).mode & 0o777).to.equal(0o600);
    expect(await p.publicKey(join(dir, 'k'))).to.equal(kp.publicKey);
  });

  it('fails with NOT_RUNNING before start', async () => {
    const p = createPlugin(ctx(dir));
    for (const call of [() => p.stats(), () => p.applyPeers({ upsert: [], remove: [] }), () => p.applyRoutes({ add: [], remove: [] })]) {
      await call().then(
        () => expect.fail('resolved'),
        (e: unknown) => expect(e).to.have.property('code', 'NOT_RUNNING'),
      );
    }
  });
});
