import type { AclRule } from '@rustynet/plugin-api';
import type { KitTest } from '../../define.js';
import { expectFlows } from '../flows.js';
import type { PolicyFixture } from '../fixture.js';
import { applyInput, flow } from './helpers.js';

type T = KitTest<PolicyFixture>;

/** The `policy.ports.*` tests, in run order. */
export const portsTests: T[] = [
  {
    id: 'policy.ports.overlapping-ranges',
    title:
      'overlapping and nested port ranges in one rule (`8000-8090`, `8070-8085`, `8081`; `4990-5005`, `4995-5010`, `5000`) and a single port nested in a later range (a drop before an accept) are enforced exactly, ports strictly inside the ranges included',
    deadlineMs: 30_000,
    async run(t, fx) {
      const rules: AclRule[] = [
        { id: 'no-b-8081', action: 'drop', src: ['b'], dst: ['a'], proto: 'tcp', ports: [8081] },
        { id: 'web-wide', action: 'accept', src: ['*'], dst: ['a'], proto: 'tcp', ports: ['8000-8090', '8070-8085', 8081, 80] },
        { id: 'udp-wide', action: 'accept', src: ['*'], dst: ['a'], proto: 'udp', ports: ['4990-5005', '4995-5010', 5000] },
      ];
      await applyInput(t, fx, await fx.input(rules), 'rules with overlapping and nested port ranges');
      await expectFlows(
        t,
        fx,
        [
          flow('b', 'tcp', 8080, 'accept'),
          flow('b', 'tcp', 8081, 'drop'),
          flow('c', 'tcp', 8081, 'accept'),
          flow('b', 'tcp', 8082, 'accept'),
          flow('c', 'tcp', 80, 'accept'),
          flow('b', 'tcp', 9000, 'drop'),
          flow('c', 'udp', 5001, 'accept'),
          flow('b', 'udp', 5002, 'accept'),
          flow('c', 'udp', 5000, 'accept'),
          flow('b', 'udp', 6000, 'drop'),
        ],
        'overlapping port ranges',
      );
    },
  },
];
