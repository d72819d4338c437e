import type { PolicyInput } from '@rustynet/plugin-api';

/** A small mesh: a (self, web), b (ops), c (dev, IPv4 only), d (web, ops). */
export function sampleInput(): PolicyInput {
  return {
    self: 'a',
    interfaces: ['rn0'],
    nodes: [
      { id: 'a', addresses: ['100.64.0.1/32', 'fd00::1/128'], tags: ['web'] },
      { id: 'b', addresses: ['100.64.0.2/32', 'fd00::2/128'], tags: ['ops'] },
      { id: 'c', addresses: ['100.64.0.3/32'], tags: ['dev'] },
      { id: 'd', addresses: ['100.64.0.4/32', 'fd00::4/128'], tags: ['web', 'ops'] },
    ],
    acl: {
      rules: [
        { id: 'ssh', action: 'accept', src: ['tag:ops'], dst: ['tag:web'], proto: 'tcp', ports: [22] },
        { id: 'web', action: 'accept', src: ['*'], dst: ['a'], proto: 'tcp', ports: [443, '8000-8080'] },
        { id: 'no-dev', action: 'drop', src: ['node:c'], dst: ['*'], proto: 'any' },
        { id: 'ping', action: 'accept', src: ['*'], dst: ['*'], proto: 'icmp' },
        { id: 'dns', action: 'accept', src: ['100.64.0.0/10', 'fd00::/8'], dst: ['a'], proto: 'udp', ports: [53] },
      ],
    },
  };
}

/** Deep copy, so tests can mutate. */
export function clone<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}
