/** fast-check generators of valid policies and flows over a small address space. */
import fc from 'fast-check';
import type { AclRule } from '@rustynet/plugin-api';

// A small address space so that selectors and flows collide often.
const v4 = fc.integer({ min: 0, max: 15 }).map((n) => `100.64.0.${n}`);
const v6 = fc.integer({ min: 0, max: 15 }).map((n) => `fd00::${n.toString(16)}`);
const ip = fc.oneof(v4, v6);
const tags = ['web', 'db', 'ops'];
const nodesArb = fc.uniqueArray(fc.integer({ min: 0, max: 15 }), { minLength: 1, maxLength: 6 }).chain((hosts) =>
  fc.tuple(
    ...hosts.map((h, i) =>
      fc.record({
        id: fc.constant(`n${i}`),
        addresses: fc.subarray([`100.64.0.${h}/32`, `fd00::${h.toString(16)}/128`], { minLength: 1 }),
        tags: fc.subarray(tags),
      }),
    ),
  ),
);

export const policyArb = nodesArb.chain((nodes) => {
  const usedTags = [...new Set(nodes.flatMap((n) => n.tags))];
  const selector = fc.oneof(
    fc.constant('*'),
    fc.constantFrom(...nodes.map((n) => n.id)),
    fc.constantFrom(...nodes.map((n) => `node:${n.id}`)),
    ...(usedTags.length ? [fc.constantFrom(...usedTags.map((t) => `tag:${t}`))] : []),
    fc.constantFrom('100.64.0.0/29', '100.64.0.8/29', '100.64.0.4/30', '100.64.0.0/10', 'fd00::/8', 'fd00::8/125', '0.0.0.0/0', '::/0'),
    ip,
  );
  const port = fc.oneof(fc.constantFrom(22, 53, 80, 443), fc.constantFrom('20-25', '50-60', '440-450', '80'));
  const rule = fc
    .record({
      action: fc.constantFrom('accept' as const, 'drop' as const),
      src: fc.array(selector, { minLength: 1, maxLength: 3 }),
      dst: fc.array(selector, { minLength: 1, maxLength: 3 }),
      proto: fc.constantFrom('tcp' as const, 'udp' as const, 'icmp' as const, 'any' as const),
      ports: fc.option(fc.array(port, { minLength: 1, maxLength: 3 }), { nil: undefined }),
    })
    .map((r): AclRule =>
      (r.proto === 'tcp' || r.proto === 'udp') && r.ports !== undefined
        ? { action: r.action, src: r.src, dst: r.dst, proto: r.proto, ports: r.ports }
        : { action: r.action, src: r.src, dst: r.dst, proto: r.proto },
    );
  return fc.record({
    input: fc.record({
      self: fc.constant(nodes[0].id),
      nodes: fc.constant(nodes),
      interfaces: fc.constant(['rn0'] as string[]),
      acl: fc.record({ rules: fc.array(rule, { maxLength: 8 }) }),
    }),
    flow: fc.record({
      src: fc.oneof(ip, fc.constantFrom(...nodes.map((n) => n.id))),
      dst: fc.oneof(ip, fc.constantFrom(...nodes.map((n) => n.id))),
      proto: fc.constantFrom('tcp' as const, 'udp' as const, 'icmp' as const),
      port: fc.constantFrom(22, 23, 53, 80, 443, 445),
    }),
  });
});
