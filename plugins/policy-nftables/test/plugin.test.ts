import { expect } from 'chai';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isRustynetError, manifestSchema, type ErrorCode } from '@rustynet/plugin-api';
import { Ajv } from 'ajv';
import { createPlugin, compileRuleset, optionsSchema, resolvePolicy, DEFAULT_OPTIONS } from '../src/index.js';
import { clone, sampleInput } from './fixtures.js';
import { makeContext, ManualClock, RecordingRunner, type RecordedCall } from './support/fakes.js';

const PKG = fileURLToPath(new URL('../../', import.meta.url));

async function rejectsWith(p: Promise<unknown>, code: ErrorCode): Promise<Error> {
  try {
    await p;
  } catch (err) {
    expect(isRustynetError(err, code), `expected ${code}, got ${String(err)}`).to.equal(true);
    return err as Error;
  }
  expect.fail(`expected ${code}`);
}

function countersJson(table: string, counters: Array<[string, string | undefined, number, number]>): string {
  return JSON.stringify({
    nftables: [
      { metainfo: { version: '1.0.6', json_schema_version: 1 } },
      { table: { family: 'inet', name: table, handle: 1 } },
      ...counters.map(([name, comment, packets, bytes], i) => ({
        counter: { family: 'inet', name, table, handle: i + 2, ...(comment !== undefined && { comment }), packets, bytes },
      })),
      { counter: { family: 'inet', name: 'r_0', table: 'someone_else', handle: 99, packets: 5, bytes: 5 } },
      { chain: { family: 'inet', table, name: 'acl', handle: 3 } },
    ],
  });
}

const isApply = (c: RecordedCall): boolean => c.args.join(' ') === '-f -';

describe('plugin lifecycle and contract (fake runner)', () => {
  it('manifest is valid, matches the capabilities and the options schema', () => {
    const manifest = JSON.parse(readFileSync(join(PKG, 'rustynet-plugin.json'), 'utf8'));
    const ajv = new Ajv({ strict: false });
    expect(ajv.validate(manifestSchema, manifest), ajv.errorsText()).to.equal(true);
    expect(manifest.kind).to.equal('policy');
    expect(manifest.apiVersions).to.deep.equal(['1.0']);
    const plugin = createPlugin(makeContext({ runner: new RecordingRunner() }));
    expect(plugin.kind).to.equal('policy');
    expect(manifest.capabilities).to.deep.equal(plugin.capabilities());
    expect(manifest.configSchema).to.deep.equal(JSON.parse(JSON.stringify(optionsSchema)));
    expect(ajv.validate(manifest.configSchema, { table: 'x', priority: -5, startupInterfaces: ['rn*'] })).to.equal(true);
    expect(ajv.validate(manifest.configSchema, { tabel: 'x' })).to.equal(false);
  });

  it('has no backend words in its sources, manifest or docs', () => {
    // Spelled in pieces so that this test file does not itself contain the words.
    const words = new RegExp(
      [
        ['wire', 'guard'],
        ['open', 'vpn'],
        ['\\b', 'w', 'g', '\\b'],
      ]
        .map((w) => w.join(''))
        .join('|'),
      'i',
    );
    const files = [
      ...readdirSync(join(PKG, 'src')).map((f) => join(PKG, 'src', f)),
      join(PKG, 'rustynet-plugin.json'),
      join(PKG, 'package.json'),
      join(PKG, 'README.md'),
    ];
    for (const f of files) expect(readFileSync(f, 'utf8'), f).not.to.match(words);
    expect(['set up ', 'w', 'g', ' now'].join('')).to.match(words); // the pattern itself works
  });

  it('createPlugin touches nothing; bad options are refused by the configSchema the loader applies', () => {
    const runner = new RecordingRunner();
    createPlugin(makeContext({ runner }));
    expect(runner.calls).to.have.length(0);
    // The daemon's loader validates options against the manifest's configSchema (ajv, defaults)
    // and names the field; the plugin no longer re-checks them.
    const manifest = JSON.parse(readFileSync(join(PKG, 'rustynet-plugin.json'), 'utf8'));
    const validate = new Ajv({ strict: false, useDefaults: true }).compile(manifest.configSchema);
    expect(validate({ table: 'bad-name' })).to.equal(false);
    expect(validate.errors?.[0]?.instancePath).to.equal('/table');
    expect(validate({ nope: 1 })).to.equal(false);
    expect(validate.errors?.[0]?.params).to.deep.equal({ additionalProperty: 'nope' });
  });

  it('NOT_RUNNING before start and after stop; ALREADY_RUNNING; stop idempotent; restart works', async () => {
    const runner = new RecordingRunner();
    const plugin = createPlugin(makeContext({ runner }));
    await rejectsWith(plugin.apply(sampleInput()), 'NOT_RUNNING');
    await rejectsWith(plugin.counters(), 'NOT_RUNNING');
    await plugin.start();
    expect(runner.calls.map((c) => `${c.file} ${c.args.join(' ')}`)).to.deep.equal(['nft list tables']);
    await rejectsWith(plugin.start(), 'ALREADY_RUNNING');
    await plugin.apply(sampleInput());
    await plugin.stop();
    await plugin.stop();
    await rejectsWith(plugin.apply(sampleInput()), 'NOT_RUNNING');
    await plugin.start();
    await plugin.apply(sampleInput());
    await plugin.stop();
    // stop: deletes our table only, in one transaction
    const stops = runner.calls.filter((c) => isApply(c) && !c.input?.includes('{'));
    expect(stops).to.have.length(3);
    for (const s of stops) expect(s.input).to.equal('table inet rustynet_policy\ndelete table inet rustynet_policy\n');
  });

  it('stop before any start is quiet even when nft is missing', async () => {
    const runner = new RecordingRunner(() => ({ exitCode: 127, stderr: 'nft: not found' }));
    await createPlugin(makeContext({ runner })).stop();
  });

  it('apply is exactly one `nft -f -` with the compiled ruleset on stdin, under a deadline', async () => {
    const runner = new RecordingRunner();
    const ctx = makeContext({ runner, options: { table: 'pol' } });
    const plugin = createPlugin(ctx);
    await plugin.start();
    runner.calls.length = 0;
    await plugin.apply(sampleInput(), { timeoutMs: 1234 });
    expect(runner.calls).to.have.length(1);
    const call = runner.calls[0];
    expect(call.file).to.equal('nft');
    expect(call.args).to.deep.equal(['-f', '-']);
    expect(call.options?.timeoutMs).to.equal(1234);
    expect(call.input).to.equal(compileRuleset(resolvePolicy(sampleInput()), { ...DEFAULT_OPTIONS, table: 'pol' }));
    expect(plugin.lastRuleset()).to.equal(call.input);
    expect(ctx.metrics.counterValue('policy_applies_total', { result: 'ok' })).to.equal(1);
    expect(ctx.metrics.gaugeValue('policy_rules')).to.equal(5);
    expect(ctx.metrics.histograms.get('policy_apply_seconds')).to.have.length(1);
  });

  it('invalid policy: INVALID_INPUT with the field, and no command at all', async () => {
    const runner = new RecordingRunner();
    const ctx = makeContext({ runner });
    const plugin = createPlugin(ctx);
    await plugin.start();
    await plugin.apply(sampleInput());
    const before = runner.calls.length;
    const bad = clone(sampleInput());
    bad.acl.rules[3].ports = [1];
    const err = await rejectsWith(plugin.apply(bad), 'INVALID_INPUT');
    expect((err as { field?: string }).field).to.equal('acl.rules[3].ports');
    expect(() => plugin.validate(bad)).to.throw(/ports are only allowed with tcp or udp/);
    expect(runner.calls.length).to.equal(before);
    expect(ctx.metrics.counterValue('policy_applies_total', { result: 'invalid' })).to.equal(1);
    expect(plugin.lastRuleset()).to.equal(compileRuleset(resolvePolicy(sampleInput()), DEFAULT_OPTIONS));
  });

  it('nft failure: POLICY_FAILED with stderr, previous ruleset kept as last applied', async () => {
    let fail = false;
    const runner = new RecordingRunner(() =>
      fail ? { exitCode: 1, stderr: 'Error: Could not process rule: No such file or directory' } : {},
    );
    const ctx = makeContext({ runner });
    const plugin = createPlugin(ctx);
    await plugin.start();
    await plugin.apply(sampleInput());
    const good = plugin.lastRuleset();
    fail = true;
    const next = clone(sampleInput());
    next.acl.rules.pop();
    const err = await rejectsWith(plugin.apply(next), 'POLICY_FAILED');
    expect((err as { details?: Record<string, unknown> }).details?.['stderr']).to.match(/Could not process rule/);
    expect(plugin.lastRuleset()).to.equal(good);
    expect(ctx.metrics.counterValue('policy_applies_total', { result: 'failed' })).to.equal(1);
  });

  it('maps EPERM to PERMISSION_DENIED on start', async () => {
    const runner = new RecordingRunner(() => ({ exitCode: 1, stderr: 'Error: Could not process rule: Operation not permitted' }));
    await rejectsWith(createPlugin(makeContext({ runner })).start(), 'PERMISSION_DENIED');
  });

  it('passes TIMEOUT and ABORTED from the runner through', async () => {
    const { RustynetError } = await import('@rustynet/plugin-api');
    const runner = new RecordingRunner(() => {
      throw new RustynetError('TIMEOUT', 'slow');
    });
    await rejectsWith(createPlugin(makeContext({ runner })).start(), 'TIMEOUT');
  });

  it('startupInterfaces: start installs the deny-all table on them', async () => {
    const runner = new RecordingRunner();
    const plugin = createPlugin(makeContext({ runner, options: { startupInterfaces: ['rn*'] } }));
    await plugin.start();
    const apply = runner.calls.find(isApply)!;
    expect(apply.input).to.include('iifname "rn*" jump acl');
    expect(apply.input).to.match(/ct state invalid drop\n\t\tcounter name "default_drop" drop/);
  });

  it('counters(): parsed from nft -j, rule ids from comments, metrics fed with increments', async () => {
    let json = '';
    const runner = new RecordingRunner((c) => (c.args[0] === '-j' ? { stdout: json } : {}));
    const ctx = makeContext({ runner, options: { table: 'pol' } });
    const plugin = createPlugin(ctx);
    await plugin.start();
    await plugin.apply(sampleInput());
    json = countersJson('pol', [
      ['r_0', 'ssh', 3, 180],
      ['r_2', 'no-dev', 7, 420],
      ['r_1', undefined, 0, 0],
      ['default_drop', 'default deny', 11, 660],
    ]);
    expect(await plugin.counters()).to.deep.equal([
      { ruleId: 'ssh', packets: 3, bytes: 180 },
      { ruleId: 'rule-1', packets: 0, bytes: 0 },
      { ruleId: 'no-dev', packets: 7, bytes: 420 },
    ]);
    expect(runner.calls.at(-1)!.args).to.deep.equal(['-j', 'list', 'table', 'inet', 'pol']);
    const m = ctx.metrics;
    expect(m.counterValue('policy_rule_packets_total', { rule: 'no-dev', action: 'drop' })).to.equal(7);
    expect(m.counterValue('policy_rule_packets_total', { rule: '(default)', action: 'drop' })).to.equal(11);
    json = countersJson('pol', [
      ['r_0', 'ssh', 5, 300],
      ['r_2', 'no-dev', 7, 420],
      ['default_drop', 'default deny', 12, 720],
    ]);
    await plugin.counters();
    expect(m.counterValue('policy_rule_packets_total', { rule: 'ssh', action: 'accept' })).to.equal(5);
    expect(m.counterValue('policy_rule_packets_total', { rule: '(default)', action: 'drop' })).to.equal(12);
    expect(m.counterValue('policy_rule_bytes_total', { rule: '(default)', action: 'drop' })).to.equal(720);
    // a new apply restarts the kernel counters: increments continue from zero, never negative
    await plugin.apply(sampleInput());
    json = countersJson('pol', [['default_drop', 'default deny', 2, 120]]);
    await plugin.counters();
    expect(m.counterValue('policy_rule_packets_total', { rule: '(default)', action: 'drop' })).to.equal(14);
  });

  it('counters(): empty before the first apply, POLICY_FAILED when the table vanished after one', async () => {
    const runner = new RecordingRunner((c) => (c.args[0] === '-j' ? { exitCode: 1, stderr: 'Error: No such file or directory' } : {}));
    const plugin = createPlugin(makeContext({ runner }));
    await plugin.start();
    expect(await plugin.counters()).to.deep.equal([]);
    await plugin.apply(sampleInput());
    await rejectsWith(plugin.counters(), 'POLICY_FAILED');
  });

  it('polls counters on the clock when counterPollIntervalMs > 0, and stops polling on stop', async () => {
    const clock = new ManualClock();
    const runner = new RecordingRunner((c) =>
      c.args[0] === '-j' ? { stdout: countersJson('rustynet_policy', [['default_drop', 'd', 4, 40]]) } : {},
    );
    const ctx = makeContext({ runner, clock, options: { counterPollIntervalMs: 1000 } });
    const plugin = createPlugin(ctx);
    await plugin.start();
    await plugin.apply(sampleInput());
    const tick = async (): Promise<void> => {
      clock.advance(1000);
      for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
    };
    await tick();
    expect(runner.calls.filter((c) => c.args[0] === '-j')).to.have.length(1);
    expect(ctx.metrics.counterValue('policy_rule_packets_total', { rule: '(default)', action: 'drop' })).to.equal(4);
    await plugin.stop();
    expect(clock.sleepers).to.equal(0);
    await tick();
    expect(runner.calls.filter((c) => c.args[0] === '-j')).to.have.length(1);
  });

  it('serialises calls: apply and counters never interleave', async () => {
    const order: string[] = [];
    const runner = new RecordingRunner(async (c) => {
      order.push(`start ${c.args[0]}`);
      await new Promise((r) => setImmediate(r));
      order.push(`end ${c.args[0]}`);
      return c.args[0] === '-j' ? { stdout: countersJson('rustynet_policy', []) } : {};
    });
    const plugin = createPlugin(makeContext({ runner }));
    await plugin.start();
    order.length = 0;
    await Promise.all([plugin.apply(sampleInput()), plugin.counters(), plugin.apply(sampleInput())]);
    expect(order).to.deep.equal(['start -f', 'end -f', 'start -j', 'end -j', 'start -f', 'end -f']);
  });
});
