/**
 * The policy plugin: enforces the netmap's ACL with one nftables table of its own.
 */
import { performance } from 'node:perf_hooks';
import {
  isRustynetError,
  RustynetError,
  type CallOptions,
  type Counter,
  type FlowQuery,
  type Gauge,
  type Histogram,
  type PluginContext,
  type PolicyCapabilities,
  type PolicyDecision,
  type PolicyInput,
  type PolicyPlugin,
  type RuleCounter,
} from '@rustynet/plugin-api';
import { isAbortError, PluginLifecycle, type CallScope } from '@rustynet/plugin-kit';
import { compileRuleset, deleteTableScript, interfaceSet } from './compile.js';
import { connectedPrefixes, gatewayRules, hasForwardMarker, IP_FORWARD_SYSCTL, validateGateway } from './gateway.js';
import { parseCounters } from './counters.js';
import { explainFlow } from './evaluate.js';
import { resolveOptions, type PolicyOptions } from './options.js';
import { resolvePolicy, type ResolvedPolicy } from './resolve.js';

/** Capabilities; identical to the manifest's. */
export const CAPABILITIES: Readonly<PolicyCapabilities> = Object.freeze({
  ipv6: true,
  counters: true,
  atomicUpdate: true,
  gateway: true,
});

/** Metric label used for the final default drop (not a valid rule id, so it cannot collide). */
export const DEFAULT_RULE_LABEL = '(default)';

interface Applied {
  policy: ResolvedPolicy;
  text: string;
  /** ms since the epoch (context clock). */
  at: number;
}

/** State of a started instance. */
interface Running {
  /** The policy last applied; none until the first apply. */
  applied: Applied | undefined;
  /** Stops the counter poll. */
  poll: AbortController | undefined;
  /** This instance turned IPv4 forwarding on (exit node) and turns it off again. */
  forwardOwned: boolean;
}

/**
 * `@rustynet/policy-nftables`. Lifecycle: `start` checks that nft runs with the needed
 * privilege (and optionally blocks `startupInterfaces`), `apply` replaces the table in one
 * transaction, `stop` deletes the table. Calls are serialised, state checks and abort mapping
 * done by plugin-kit's {@link PluginLifecycle}.
 */
export class NftablesPolicyPlugin extends PluginLifecycle<Running, void> implements PolicyPlugin {
  readonly kind = 'policy' as const;
  readonly options: PolicyOptions;
  /** Last counter values seen per rule id, to turn nft's absolute values into metric increments. */
  private seen = new Map<string, { packets: number; bytes: number }>();
  private readonly m: {
    applies: Counter;
    applySeconds: Histogram;
    rules: Gauge;
    packets: Counter;
    bytes: Counter;
  };

  /** Options come validated by the loader (manifest `configSchema`); defaults are filled here. */
  constructor(private readonly context: PluginContext) {
    super({ clock: context.clock, label: 'the policy plugin' });
    this.options = resolveOptions(context.options);
    const mx = context.metrics;
    this.m = {
      applies: mx.counter('policy_applies_total', 'Policy applies by result (ok, invalid, failed)', ['result']),
      applySeconds: mx.histogram('policy_apply_seconds', 'Duration of a successful policy apply, seconds'),
      rules: mx.gauge('policy_rules', 'Number of ACL rules currently enforced'),
      packets: mx.counter(
        'policy_rule_packets_total',
        'Packets that hit an ACL rule (new flows); action="drop" are drops. rule="(default)" is the default deny',
        ['rule', 'action'],
      ),
      bytes: mx.counter('policy_rule_bytes_total', 'Bytes that hit an ACL rule', ['rule', 'action']),
    };
  }

  capabilities(): PolicyCapabilities {
    return { ...CAPABILITIES };
  }

  /** The ruleset text last applied by this instance (for diagnostics), if any. */
  lastRuleset(): string | undefined {
    return this.runningState?.applied?.text;
  }

  /**
   * Checks that nft works with the needed privilege; when `startupInterfaces` is set, installs
   * the empty (deny-all) policy on them until the first apply.
   * @throws RustynetError `ALREADY_RUNNING`, `PERMISSION_DENIED`, `POLICY_FAILED`.
   */
  start(options?: CallOptions): Promise<void> {
    return this.runStart(undefined, options);
  }

  protected override async _start(_config: void, scope: CallScope): Promise<Running> {
    const tables = await this.nft(['list', 'tables'], undefined, scope);
    const leftover = tables.stdout.split('\n').some((l) => l.trim() === `table inet ${this.options.table}`);
    const stale = leftover ? await this.nft(['-j', 'list', 'table', 'inet', this.options.table], undefined, scope, true) : undefined;
    if (stale?.exitCode === 0 && hasForwardMarker(stale.stdout)) {
      // A crashed instance turned IPv4 forwarding on: undo it before anything else.
      await this.setForward(false, scope);
      this.context.logger.warn({ table: this.options.table }, `stale exit-node state found: ${IP_FORWARD_SYSCTL} turned back off`);
    }
    if (this.options.startupInterfaces.length > 0) {
      // The empty policy: only established/related traffic passes on these interfaces.
      const policy: ResolvedPolicy = {
        self: '(startup)',
        interfaces: [...new Set(this.options.startupInterfaces)],
        rules: [],
        nodes: new Map(),
      };
      await this.nft(['-f', '-'], compileRuleset(policy, this.options), scope);
    }
    const running: Running = { applied: undefined, poll: undefined, forwardOwned: false };
    running.poll = this.startPoll();
    this.context.logger.info({ table: this.options.table }, 'policy plugin started');
    return running;
  }

  /** Deletes the plugin's table (only it). Idempotent. @throws RustynetError `POLICY_FAILED` (still running then). */
  protected override async _stop(st: Running, scope: CallScope): Promise<void> {
    st.poll?.abort();
    st.poll = undefined;
    await this.nft(['-f', '-'], deleteTableScript(this.options.table), scope);
    if (st.forwardOwned) {
      await this.setForward(false, scope);
      st.forwardOwned = false;
    }
    this.context.logger.info({ table: this.options.table }, 'policy table removed');
    this.forgetCounters();
  }

  /** Stop before start: removes a stale table of ours if nft can; stays quiet if it cannot. */
  protected override async _stopIdle(scope: CallScope): Promise<void> {
    try {
      await this.nft(['-f', '-'], deleteTableScript(this.options.table), scope);
    } catch (err) {
      // Not started: nothing of ours can be there but a stale table; stay quiet if nft fails.
      if (isAbortError(err)) throw err;
      this.context.logger.debug({ err: String(err) }, 'stop before start: table cleanup skipped');
    }
    this.forgetCounters();
  }

  private forgetCounters(): void {
    this.seen.clear();
    this.m.rules.set(0);
  }

  /** @throws RustynetError `INVALID_INPUT` naming the field. Changes nothing. */
  validate(input: PolicyInput): void {
    resolvePolicy(input);
    validateGateway(input.gateway);
  }

  /**
   * Replaces the enforced ruleset in one `nft -f -` transaction. Validation runs first; on an
   * nft error the kernel keeps the previous ruleset (the transaction is atomic).
   * @throws RustynetError `NOT_RUNNING`, `INVALID_INPUT`, `PERMISSION_DENIED`, `POLICY_FAILED`,
   *   `TIMEOUT`, `ABORTED`.
   */
  apply(input: PolicyInput, options?: CallOptions): Promise<void> {
    return this.whileRunning(options, async (st, scope) => {
      let policy: ResolvedPolicy;
      try {
        policy = resolvePolicy(input);
        validateGateway(input.gateway);
      } catch (err) {
        this.m.applies.inc({ result: 'invalid' });
        throw err;
      }
      const gw = input.gateway;
      const t0 = performance.now();
      let text: string;
      let takeForward: boolean;
      try {
        // Turn forwarding on (and mark it in the table) only when it was off and is not ours yet.
        takeForward = gw?.serve !== undefined && !st.forwardOwned && !(await this.forwardOn(scope));
        const owned = gw?.serve !== undefined && (st.forwardOwned || takeForward);
        const lan = gw?.killSwitch?.lanAccess ? await this.lanPrefixes(policy.interfaces, scope) : [];
        text = compileRuleset(policy, this.options, gatewayRules(gw, interfaceSet(policy), lan, owned));
        await this.nft(['-f', '-'], text, scope);
        if (takeForward) await this.setForward(true, scope);
        if (gw?.serve === undefined && st.forwardOwned) await this.setForward(false, scope);
      } catch (err) {
        this.m.applies.inc({ result: 'failed' });
        throw err;
      }
      if (takeForward) st.forwardOwned = true;
      if (gw?.serve === undefined) st.forwardOwned = false;
      const seconds = (performance.now() - t0) / 1000;
      st.applied = { policy, text, at: this.context.clock.now() };
      this.seen.clear(); // the new table's counters start at zero
      this.m.applies.inc({ result: 'ok' });
      this.m.applySeconds.observe(seconds);
      this.m.rules.set(policy.rules.length);
      this.context.logger.info(
        { rules: policy.rules.length, interfaces: policy.interfaces, bytes: text.length, ms: Math.round(seconds * 1000) },
        'policy applied',
      );
      this.context.logger.trace({ ruleset: text }, 'policy ruleset');
    });
  }

  /**
   * Per-rule packet/byte counters from the kernel (`nft -j list table`). Counters count the
   * packets that reached a rule: the first packet(s) of new flows, since established traffic
   * is accepted before the ACL. They restart at zero on every apply. Also feeds the metrics.
   * @throws RustynetError `NOT_RUNNING`, `POLICY_FAILED` (e.g. the table was removed by someone else).
   */
  counters(options?: CallOptions): Promise<RuleCounter[]> {
    return this.whileRunning(options, (st, scope) => this.readCounters(st, scope));
  }

  /** Pure: which rule decides `flow` under `input`, and why. @throws RustynetError `INVALID_INPUT`. */
  explain(input: PolicyInput, flow: FlowQuery): PolicyDecision {
    return explainFlow(resolvePolicy(input), flow);
  }

  private async readCounters(st: Running, scope: CallScope): Promise<RuleCounter[]> {
    const res = await this.nft(['-j', 'list', 'table', 'inet', this.options.table], undefined, scope, true);
    if (res.exitCode !== 0) {
      if (!st.applied && /No such file or directory/.test(res.stderr)) return [];
      throw new RustynetError('POLICY_FAILED', `cannot read counters of table inet ${this.options.table}: ${res.stderr.trim()}`, {
        details: { exitCode: res.exitCode, stderr: res.stderr },
      });
    }
    const parsed = parseCounters(res.stdout, this.options.table);
    const actions = new Map(st.applied?.policy.rules.map((r) => [r.id, r.action]) ?? []);
    const feed = (rule: string, action: string, packets: number, bytes: number): void => {
      const prev = this.seen.get(rule) ?? { packets: 0, bytes: 0 };
      // A value below the last one means the counter restarted (table replaced): count it all.
      const dp = packets >= prev.packets ? packets - prev.packets : packets;
      const db = bytes >= prev.bytes ? bytes - prev.bytes : bytes;
      if (dp > 0) this.m.packets.inc({ rule, action }, dp);
      if (db > 0) this.m.bytes.inc({ rule, action }, db);
      this.seen.set(rule, { packets, bytes });
    };
    for (const c of parsed.rules) feed(c.ruleId, actions.get(c.ruleId) ?? 'unknown', c.packets, c.bytes);
    if (parsed.defaultDrop) feed(DEFAULT_RULE_LABEL, 'drop', parsed.defaultDrop.packets, parsed.defaultDrop.bytes);
    return parsed.rules.map(({ ruleId, packets, bytes }) => ({ ruleId, packets, bytes }));
  }

  /** Starts the counter poll (every `counterPollIntervalMs`); returns what stops it, if any. */
  private startPoll(): AbortController | undefined {
    const period = this.options.counterPollIntervalMs;
    if (period <= 0) return undefined;
    const ac = new AbortController();
    void (async () => {
      for (;;) {
        try {
          await this.context.clock.sleep(period, ac.signal);
        } catch {
          return;
        }
        if (ac.signal.aborted) return;
        if (!this.runningState?.applied) continue;
        try {
          await this.serial({ timeoutMs: period }, async (scope) => {
            const st = this.runningState;
            return st?.applied ? this.readCounters(st, scope) : [];
          });
        } catch (err) {
          this.context.logger.warn({ err: String(err) }, 'policy counter poll failed');
        }
      }
    })();
    return ac;
  }

  /** Whether IPv4 forwarding is on in this network namespace. @throws RustynetError `POLICY_FAILED`. */
  private async forwardOn(scope: CallScope): Promise<boolean> {
    const res = await this.context.runner.run('sysctl', ['-n', IP_FORWARD_SYSCTL], scope.runOptions({ reject: false }));
    if (res.exitCode !== 0) throw this.failure(['-n', IP_FORWARD_SYSCTL], res.stderr, res.exitCode, undefined, 'sysctl');
    return res.stdout.trim() === '1';
  }

  /** Sets IPv4 forwarding. @throws RustynetError `PERMISSION_DENIED`, `POLICY_FAILED`. */
  private async setForward(on: boolean, scope: CallScope): Promise<void> {
    const res = await this.context.runner.run('sysctl', ['-w', `${IP_FORWARD_SYSCTL}=${on ? 1 : 0}`], scope.runOptions({ reject: false }));
    if (res.exitCode !== 0) throw this.failure(['-w', IP_FORWARD_SYSCTL], res.stderr, res.exitCode, undefined, 'sysctl');
    this.context.logger.info(
      { sysctl: IP_FORWARD_SYSCTL, value: on ? 1 : 0 },
      on ? 'exit node: IPv4 forwarding on' : 'IPv4 forwarding restored to off',
    );
  }

  /** Directly connected prefixes off the mesh (the LAN kept reachable by the kill switch). */
  private async lanPrefixes(mesh: readonly string[], scope: CallScope): Promise<string[]> {
    const out: string[] = [];
    for (const fam of ['-4', '-6']) {
      const res = await this.context.runner.run(
        'ip',
        ['-j', fam, 'route', 'show', 'table', 'main', 'scope', 'link'],
        scope.runOptions({ reject: false }),
      );
      if (res.exitCode === 0) out.push(...connectedPrefixes(res.stdout, mesh));
    }
    return out;
  }

  /**
   * Runs nft through the context's command runner. With `tolerate`, a non-zero exit resolves.
   * @throws RustynetError `PERMISSION_DENIED` (EPERM from netlink), `POLICY_FAILED` (any other
   *   failure, stderr in `details`), `TIMEOUT`, `ABORTED`.
   */
  private async nft(
    args: string[],
    input: string | undefined,
    scope: CallScope,
    tolerate = false,
  ): Promise<{ stdout: string; stderr: string; exitCode: number }> {
    let res;
    try {
      res = await this.context.runner.run(
        this.options.nft,
        args,
        scope.runOptions({ reject: false, ...(input !== undefined && { input }) }),
      );
    } catch (err) {
      if (isAbortError(err)) throw err;
      const details = isRustynetError(err) ? err.details : undefined;
      const stderr = typeof details?.['stderr'] === 'string' ? details['stderr'] : String(err);
      throw this.failure(args, stderr, typeof details?.['exitCode'] === 'number' ? details['exitCode'] : -1, err);
    }
    if (res.exitCode !== 0 && !tolerate) throw this.failure(args, res.stderr, res.exitCode);
    return res;
  }

  private failure(args: string[], stderr: string, exitCode: number, cause?: unknown, program = 'nft'): RustynetError {
    const what = `${program} ${args.join(' ')}`;
    const opts = { details: { exitCode, stderr: stderr.slice(-4000) }, ...(cause !== undefined && { cause }) };
    if (/Operation not permitted|Permission denied/i.test(stderr)) {
      return new RustynetError('PERMISSION_DENIED', `${what}: needs CAP_NET_ADMIN (${stderr.trim()})`, opts);
    }
    return new RustynetError('POLICY_FAILED', `${what} failed (exit ${exitCode}): ${stderr.trim().slice(0, 500)}`, opts);
  }
}
