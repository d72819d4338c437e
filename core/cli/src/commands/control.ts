/**
 * `rustynet control ...`: run the control plane (`serve`) and administer it through its admin
 * socket (`keys`, `nodes`, `acl`, `status`). `@rustynet/control` (and its native SQLite
 * module) is loaded on demand, so other commands never load it.
 */
import type { Command } from 'commander';
import { RustynetError, isRustynetError } from '@rustynet/plugin-api';
import { formatAge, table } from '../format.js';
import { io, printJson } from '../io.js';
import { addExamples } from '../program.js';

import { addAdminOptions, call, controlModule, readJsonFile, type AdminOpts } from './control-admin.js';
import { registerAudit } from './control-audit.js';
import { registerBackup } from './control-backup.js';
import { registerRotateSigningKey } from './control-rotate.js';
import { registerServe } from './control-serve.js';

export { DEFAULT_CONTROL_DATA } from './control-admin.js';

function tagList(text: string | undefined): string[] {
  return text === undefined || text === ''
    ? []
    : text
        .split(',')
        .map((t) => t.trim())
        .filter((t) => t !== '');
}

interface NodeView {
  id: string;
  name: string;
  addresses: string[];
  tags: string[];
  endpoints: Array<{ host: string; port: number }>;
  keys: string[];
  updatedAt: string;
  expired: boolean;
  /** `admin` or `key-lifetime` when expired. */
  expiredBy?: string;
  /** ISO time the node's keys expire (with `--node-key-lifetime`). */
  keyExpiresAt?: string;
}

interface TestRow {
  test: { src: string; dst: string; proto: string; port?: number; expect: string };
  action: string;
  ruleId: string | null;
  pass: boolean;
}

function testTable(tests: TestRow[]): string {
  return table(
    ['RESULT', 'SRC', 'DST', 'FLOW', 'EXPECT', 'GOT', 'RULE'],
    tests.map((t) => [
      t.pass ? 'pass' : 'FAIL',
      t.test.src,
      t.test.dst,
      t.test.port === undefined ? t.test.proto : `${t.test.proto}/${t.test.port}`,
      t.test.expect,
      t.action,
      t.ruleId ?? '(default deny)',
    ]),
  );
}

function registerKeys(control: Command): void {
  const keys = control.command('keys').description('pre-auth keys for enrolment');
  const create = addAdminOptions(
    keys
      .command('create')
      .description('create a pre-auth key; prints it once (only its hash is stored)')
      .option('--reusable', 'the key may enrol many nodes (default: one-time)')
      .option('--expires <duration>', 'lifetime, e.g. 1h, 7d (default: never)')
      .option('--tags <a,b>', 'tags given to nodes enrolled with the key'),
  );
  addExamples(create, [
    'rustynet control keys create --expires 1h',
    'rustynet control keys create --reusable --tags web,prod --json > key.json',
  ]);
  create.action(async (opts: AdminOpts & { reusable?: boolean; expires?: string; tags?: string }) => {
    const m = await controlModule();
    const body = {
      reusable: opts.reusable === true,
      tags: tagList(opts.tags),
      ...(opts.expires !== undefined && { expiresInMs: m.parseDuration(opts.expires, '--expires') }),
    };
    const r = (await call(opts, 'POST', '/admin/v1/keys', body)) as { key: string; info: { id: string; expiresAt: number | null } };
    if (opts.json) return printJson(r);
    io().out(`${r.key}\n`);
    io().err(
      `rustynet: pre-auth key ${r.info.id} (${body.reusable ? 'reusable' : 'one-time'}${r.info.expiresAt ? `, expires ${new Date(r.info.expiresAt).toISOString()}` : ''}); it is not shown again\n`,
    );
  });
  const list = addAdminOptions(keys.command('list').description('list pre-auth keys (never the keys themselves)'));
  addExamples(list, ['rustynet control keys list', 'rustynet control keys list --json']);
  list.action(async (opts: AdminOpts) => {
    const r = (await call(opts, 'GET', '/admin/v1/keys')) as {
      keys: Array<{ id: string; reusable: boolean; tags: string[]; expiresAt: number | null; uses: number }>;
    };
    if (opts.json) return printJson(r);
    io().out(
      table(
        ['ID', 'KIND', 'TAGS', 'EXPIRES', 'USES'],
        r.keys.map((k) => [
          k.id,
          k.reusable ? 'reusable' : 'one-time',
          k.tags.join(',') || '-',
          k.expiresAt ? new Date(k.expiresAt).toISOString() : 'never',
          String(k.uses),
        ]),
      ),
    );
  });
  registerKeyRevoke(keys);
}

function registerKeyRevoke(keys: Command): void {
  const revoke = addAdminOptions(
    keys.command('revoke').description('revoke a pre-auth key (nodes enrolled with it stay)').argument('<id>', 'key id, as in `keys list`'),
  );
  addExamples(revoke, ['rustynet control keys revoke 8cf7bbff9998', 'rustynet control keys revoke 8cf7bbff9998 --json']);
  revoke.action(async (id: string, opts: AdminOpts) => {
    const r = (await call(opts, 'DELETE', `/admin/v1/keys/${encodeURIComponent(id)}`)) as { revoked: { id: string } };
    if (opts.json) return printJson(r);
    io().out(`rustynet: pre-auth key ${r.revoked.id} revoked\n`);
  });
}

function registerNodes(control: Command): void {
  const nodes = control.command('nodes').description('list, rename, tag, expire and remove nodes');
  const list = addAdminOptions(nodes.command('list').description('list enrolled nodes'));
  addExamples(list, ['rustynet control nodes list', 'rustynet control nodes list --json | jq ".nodes[].id"']);
  list.action(async (opts: AdminOpts) => {
    const r = (await call(opts, 'GET', '/admin/v1/nodes')) as { version: number; nodes: NodeView[] };
    if (opts.json) return printJson(r);
    const now = Date.now();
    io().out(
      table(
        ['ID', 'NAME', 'ADDRESSES', 'TAGS', 'ENDPOINTS', 'KEYS', 'UPDATED', 'KEY EXPIRES', 'STATE'],
        r.nodes.map((n) => [
          n.id,
          n.name,
          n.addresses.join(','),
          n.tags.join(',') || '-',
          n.endpoints.map((e) => `${e.host}:${e.port}`).join(',') || '-',
          n.keys.join(',') || '-',
          formatAge(n.updatedAt, now),
          n.keyExpiresAt ?? 'never',
          n.expired ? `expired${n.expiredBy === 'key-lifetime' ? ' (key)' : ''}` : 'active',
        ]),
      ),
    );
  });
  const simple = (
    name: string,
    description: string,
    method: string,
    suffix: string,
    example: string,
    extra?: (cmd: Command) => Command,
  ): void => {
    const cmd = addAdminOptions(
      (extra ?? ((c: Command) => c))(nodes.command(name).description(description).argument('<node>', 'node id or name')),
    );
    addExamples(cmd, [example, `${example} --json`]);
    cmd.action(async (node: string, arg: unknown, maybeOpts?: unknown) => {
      const opts = (typeof arg === 'string' ? maybeOpts : arg) as AdminOpts;
      const body = name === 'rename' ? { name: arg } : name === 'tag' ? { tags: tagList(typeof arg === 'string' ? arg : '') } : undefined;
      const r = (await call(opts, method, `/admin/v1/nodes/${encodeURIComponent(node)}${suffix}`, body)) as {
        node: NodeView;
        version: number;
      };
      if (opts.json) return printJson(r);
      io().out(
        `rustynet: node ${r.node.id} ${name === 'remove' ? 'removed' : name === 'expire' ? 'expired' : 'updated'}; netmap version ${r.version}\n`,
      );
    });
  };
  simple(
    'rename',
    'rename a node (its id and addresses stay); a taken name is refused',
    'POST',
    '/rename',
    'rustynet control nodes rename laptop-2 alice-laptop',
    (c) => c.argument('<name>', 'new name (DNS label)'),
  );
  simple('tag', 'replace a node\'s tags (comma separated; "" clears)', 'POST', '/tags', 'rustynet control nodes tag web-1 web,prod', (c) =>
    c.argument('<tags>', 'tags, comma separated'),
  );
  simple(
    'remove',
    'revoke a node: out of every netmap at once, its polls refused',
    'DELETE',
    '',
    'rustynet control nodes remove old-laptop',
  );
  simple(
    'expire',
    'expire a node: out of netmaps until it enrols again with a pre-auth key',
    'POST',
    '/expire',
    'rustynet control nodes expire laptop',
  );
}

function registerAcl(control: Command): void {
  const acl = control.command('acl').description('get, test, set (optionally as a canary), promote and roll back the ACL');
  const get = addAdminOptions(acl.command('get').description('print the ACL (and the canary, if any) as JSON'));
  addExamples(get, ['rustynet control acl get > acl.json']);
  get.action(async (opts: AdminOpts) => {
    const r = (await call(opts, 'GET', '/admin/v1/acl')) as { acl: unknown; canary: unknown };
    printJson(opts.json ? r : (r.acl ?? { rules: [] }));
  });
  const test = addAdminOptions(
    acl
      .command('test')
      .description("run an ACL file's tests against the current nodes (default: the current ACL)")
      .argument('[file]', 'ACL JSON file, or - for stdin'),
  );
  addExamples(test, ['rustynet control acl test acl.json', 'rustynet control acl test --json']);
  test.action(async (file: string | undefined, opts: AdminOpts) => {
    const body = file === undefined ? {} : { acl: await readJsonFile(file, '<file>') };
    const r = (await call(opts, 'POST', '/admin/v1/acl/test', body)) as { ok: boolean; tests: TestRow[] };
    if (opts.json) printJson(r);
    else io().out(r.tests.length === 0 ? 'no tests\n' : testTable(r.tests));
    if (!r.ok) throw new RustynetError('INVALID_INPUT', `${r.tests.filter((t) => !t.pass).length} ACL test(s) failed`, { field: 'tests' });
  });
  const set = addAdminOptions(
    acl
      .command('set')
      .description('validate, test and set the ACL; refused (nothing changes) if a test fails')
      .argument('<file>', 'ACL JSON file { rules, tests? }, or - for stdin')
      .option('--canary <tag>', 'roll out to nodes with this tag first; then `acl promote` or `acl rollback`'),
  );
  addExamples(set, [
    'rustynet control acl set acl.json',
    'rustynet control acl set acl.json --canary canary',
    'rustynet control acl promote',
  ]);
  set.action(async (file: string, opts: AdminOpts & { canary?: string }) => {
    const body = { acl: await readJsonFile(file, '<file>'), ...(opts.canary !== undefined && { canary: opts.canary }) };
    let r: { version: number; tests: TestRow[] };
    try {
      r = (await call(opts, 'PUT', '/admin/v1/acl', body)) as { version: number; tests: TestRow[] };
    } catch (err) {
      const failed = isRustynetError(err) ? err.details?.['failed'] : undefined;
      if (!opts.json && Array.isArray(failed)) io().err(testTable(failed as TestRow[]));
      throw err;
    }
    if (opts.json) return printJson(r);
    io().out(
      `rustynet: ACL set${opts.canary ? ` as canary for tag:${opts.canary}` : ''} (${r.tests.length} tests passed); netmap version ${r.version}\n`,
    );
  });
  for (const action of ['promote', 'rollback'] as const) {
    const cmd = addAdminOptions(
      acl
        .command(action)
        .description(
          action === 'promote' ? 'make the canary ACL the ACL of every node' : 'drop the canary ACL; tagged nodes go back to the ACL',
        ),
    );
    addExamples(cmd, [`rustynet control acl ${action}`]);
    cmd.action(async (opts: AdminOpts) => {
      const r = (await call(opts, 'POST', `/admin/v1/acl/${action}`)) as { version: number };
      if (opts.json) return printJson(r);
      io().out(`rustynet: canary ${action === 'promote' ? 'promoted' : 'rolled back'}; netmap version ${r.version}\n`);
    });
  }
}

/** Registers `rustynet control ...`. */
export function register(program: Command): void {
  const control = program.command('control').description('run and administer the control plane (enrolment, netmaps, ACL)');
  addExamples(control, [
    'rustynet control serve --listen 127.0.0.1:4242 --data /var/lib/rustynet-control',
    'rustynet control keys create --expires 1h',
    'rustynet control nodes list',
    'rustynet control acl set acl.json --canary canary',
    'rustynet control backup --out /var/backups/rustynet-control.json',
  ]);
  registerServe(control);
  const status = addAdminOptions(control.command('status').description('version, node counts, waiting polls, control-plane key'));
  addExamples(status, ['rustynet control status', 'rustynet control status --data /srv/control --json']);
  status.action(async (opts: AdminOpts) => {
    const r = (await call(opts, 'GET', '/admin/v1/status')) as Record<string, unknown>;
    if (opts.json) return printJson(r);
    io().out(
      `${Object.entries(r)
        .map(([k, v]) => `${k}: ${v === null ? '-' : typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join('\n')}\n`,
    );
  });
  registerKeys(control);
  registerNodes(control);
  registerAcl(control);
  registerBackup(control);
  registerAudit(control);
  registerRotateSigningKey(control);
}
