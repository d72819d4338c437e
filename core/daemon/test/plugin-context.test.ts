import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createPluginContext, pluginStateDir } from '../src/container/containers.js';
import { createComponents } from '../src/container/components.js';
import { DaemonHooks } from '../src/hooks/daemon-hooks.js';
import { KeyStore } from '../src/services/key-store.js';
import { captureStream, testServices, tmpDir } from './helpers.js';

describe('plugin context (composition without a container)', () => {
  it('gives a plugin exactly its nine context members, frozen, bound to its name and directory', async () => {
    const cap = captureStream();
    const services = testServices(tmpDir(), cap.stream);
    const hooks = new DaemonHooks({ logger: services.logger });
    const ctx = createPluginContext(services, {
      name: '@acme/backend-x',
      apiVersion: '1.0',
      options: { port: 1 },
      hooks: hooks.forPlugin('@acme/backend-x'),
    });
    expect(Object.keys(ctx).sort()).to.deep.equal(
      ['apiVersion', 'clock', 'hooks', 'logger', 'metrics', 'options', 'pluginName', 'runner', 'state'].sort(),
    );
    expect(Object.isFrozen(ctx)).to.equal(true);
    expect(Object.isFrozen(ctx.options)).to.equal(true);
    expect(ctx.pluginName).to.equal('@acme/backend-x');
    expect(ctx.runner).to.equal(services.runner);
    expect(ctx.clock).to.equal(services.clock);
    expect(Object.values(ctx).some((v) => v instanceof KeyStore)).to.equal(false);
    // Its state lives in its own directory, never in the core's.
    await ctx.state.write('k', { v: 1 });
    expect(ctx.state.dir).to.equal(pluginStateDir(services.stateDir, '@acme/backend-x'));
    expect(existsSync(pluginStateDir(services.stateDir, '@acme/backend-x'))).to.equal(true);
    expect(existsSync(join(services.stateDir, 'daemon'))).to.equal(false);
    // Its metrics are prefixed; its log lines carry its name.
    ctx.metrics.counter('hits_total', 'h').inc();
    expect(await services.metrics.registry.metrics()).to.include('rustynet_plugin_hits_total 1');
    ctx.logger.info('hello');
    expect(cap.lines().some((l) => l.includes('"plugin":"@acme/backend-x"') && l.includes('hello'))).to.equal(true);
  });

  it('the daemon components add the core state store and the key store to the host services', () => {
    const services = testServices(tmpDir());
    const c = createComponents(services);
    expect(c.logger).to.equal(services.logger);
    expect(c.stateDir).to.equal(services.stateDir);
    expect(c.keyStore).to.be.instanceOf(KeyStore);
    expect(createComponents(services).keyStore).to.not.equal(c.keyStore);
  });
});
