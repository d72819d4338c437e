// The demo's feature steps on a running three-node mesh (see demo.mjs): policy (an allowed and a
// denied flow per the netmap's ACL), Magic DNS (pings by name) and relay fail-over and return.

// Every step takes (ctx, backend); ctx is what demo.mjs hands it: { mesh, repoRoot, say, indent,
// secs, check, skip, rustynet, relayUnsupportedReason, DNS_ZONE }.

/** The denied flow the demo shows: TCP/5201 from c to a (TCP/5201 between all other nodes is allowed). */
export const DENIED = { from: 'c', to: 'a', proto: 'tcp', port: 5201 };
export const ALLOWED = { from: 'b', to: 'a', proto: 'tcp', port: 5201 };

/** The netmap's ACL: first match wins, no match means drop (docs/policy.md). */
export const ACL = {
  rules: [
    { id: 'deny-c-to-a-5201', action: 'drop', src: ['c'], dst: ['a'], proto: 'tcp', ports: [5201] },
    { id: 'icmp', action: 'accept', src: ['*'], dst: ['*'], proto: 'icmp' },
    { id: 'magic-dns', action: 'accept', src: ['*'], dst: ['*'], proto: 'udp', ports: [53] },
    { id: 'tcp-5201', action: 'accept', src: ['*'], dst: ['*'], proto: 'tcp', ports: [5201] },
  ],
};

/** Policy: an allowed and a denied TCP flow to a, per the netmap's ACL. */
export async function showPolicy(ctx, backend) {
  const { mesh, say, indent, check, rustynet, repoRoot } = ctx;
  say(`policy: the netmap's ACL (first match wins, no match = drop), enforced in every node by @rustynet/policy-nftables:`);
  for (const r of ACL.rules) {
    process.stdout.write(
      `    ${r.action.padEnd(6)} ${r.id.padEnd(18)} ${r.src.join(',')} -> ${r.dst.join(',')} ${r.proto}${r.ports ? `/${r.ports.join(',')}` : ''}\n`,
    );
  }
  const dst = mesh.node(DENIED.to);
  const echo = await dst.host.tcpEchoServer(DENIED.port);
  try {
    for (const flow of [ALLOWED, DENIED]) {
      const payload = `hello from ${flow.from}`;
      const reply = await mesh.node(flow.from).host.tcpSend(mesh.node(flow.to).v4, flow.port, payload, { timeoutMs: 3000 });
      const passed = reply?.toString() === payload;
      const want = flow === ALLOWED;
      check(
        backend,
        `policy: ${flow.proto.toUpperCase()}/${flow.port} ${flow.from} -> ${flow.to} ${want ? 'allowed' : 'denied'}`,
        passed === want,
        passed ? 'echo answered' : 'no answer within 3 s (dropped)',
      );
    }
  } finally {
    await echo.close();
  }
  for (const flow of [DENIED, ALLOWED]) {
    const args = ['policy', 'explain', flow.from, flow.to, `${flow.proto}/${flow.port}`, '--netmap', mesh.node(flow.to).netmapFile];
    say(`rustynet ${args.join(' ')}`);
    process.stdout.write(`${indent(await rustynet(args, { cwd: repoRoot }))}\n`);
  }
  const counters = await mesh.policyCounters(DENIED.to);
  const denied = counters.find((c) => c.rule === ACL.rules[0].id);
  say(`policy: node ${DENIED.to}'s nftables counter of rule ${ACL.rules[0].id}: ${denied?.packets ?? 'n/a'} packets dropped`);
}

/** DNS: every node pings every other by name, and one dig. */
export async function showDns(ctx, backend) {
  const { mesh, say, check, DNS_ZONE } = ctx;
  const a = mesh.nodes[0];
  const b = mesh.nodes[1];
  say(`dns: ip netns exec ${a.host.netns} dig @${a.v4} ${b.id}.${DNS_ZONE} A`);
  const d = await mesh.dig(a.id, a.v4, `${b.id}.${DNS_ZONE}`, 'A');
  process.stdout.write(`    status ${d.status}, answer ${d.answers.join(', ') || '(none)'}\n`);
  check(
    backend,
    `dns: dig @${a.v4} ${b.id}.${DNS_ZONE}`,
    d.status === 'NOERROR' && d.answers.includes(b.v4),
    `${d.status} ${d.answers.join(' ')}`,
  );
  say(`dns: every node pings every other by name (ping -c1 <node>.${DNS_ZONE}, resolved by its own Magic DNS)`);
  const results = await Promise.all(
    mesh.nodes.flatMap((from) =>
      mesh.nodes.filter((to) => to !== from).map(async (to) => ({ from, to, r: await mesh.pingByName(from.id, `${to.id}.${DNS_ZONE}`) })),
    ),
  );
  for (const { from, to, r } of results) {
    process.stdout.write(
      `    ${from.id}: ping ${to.id}.${DNS_ZONE} -> ${r.address ?? 'unresolved'} ${r.ok ? 'answered' : `FAILED (${r.output.split('\n').at(-1)})`}\n`,
    );
  }
  const bad = results.filter(({ to, r }) => !r.ok || ![to.v4, to.v6].includes(r.address));
  check(
    backend,
    `dns: ${results.length} pings by name`,
    bad.length === 0,
    bad.length ? `failed: ${bad.map(({ from, to }) => `${from.id}->${to.id}`).join(', ')}` : 'all answered',
  );
}

/** Relay: block a<->b, relay, unblock, direct; with the times. */
export async function showRelay(ctx, backend) {
  const { mesh, say, indent, secs, check, skip, relayUnsupportedReason, repoRoot } = ctx;
  const reason = await relayUnsupportedReason(backend, repoRoot);
  if (reason) {
    skip(backend, 'relay: fail-over and return', reason);
    return;
  }
  const [a, b] = mesh.nodes;
  const pairs = [
    [a.id, b.id],
    [b.id, a.id],
  ];
  say(`relay: pinging ${b.id} from ${a.id} every 100 ms (ping -D -i 0.1 ${b.v4}) throughout`);
  const pinger = mesh.continuousPing(a.id, b.v4, 0.1);
  try {
    if ((await pinger.firstReplyAfter(Date.now(), 5000)) === null) throw new Error(`no ping reply ${a.id} -> ${b.id} before the block`);
    say(
      `relay: blocking the direct underlay path ${a.id} (${a.host.underlayAddress}) <-> ${b.id} (${b.host.underlayAddress}) with nftables in both namespaces`,
    );
    const tBlock = await mesh.blockDirect(a.id, b.id);
    const tRelay = await mesh.waitForPath(pairs, 'relay', 15_000).catch(() => null);
    const tTraffic = await pinger.firstReplyAfter(tBlock + 50, 15_000);
    check(backend, `relay: both nodes switched to path relay`, tRelay !== null, `after ${secs(tRelay && tRelay - tBlock)}`);
    check(
      backend,
      `relay: pings ${a.id} -> ${b.id} answered through the relay`,
      tTraffic !== null,
      `first reply ${secs(tTraffic && tTraffic - tBlock)} after the block`,
    );
    say(`rustynet status (node ${a.id}) while the direct path is blocked:`);
    process.stdout.write(`${indent(await mesh.statusText(a.id))}\n`);
    const viaRelay = await mesh.pingMatrix(3, pairs);
    check(
      backend,
      `relay: ${a.id} <-> ${b.id} IPv4/IPv6 pings while blocked`,
      viaRelay.every((r) => r.ok),
      viaRelay
        .filter((r) => !r.ok)
        .map((r) => `${r.from}->${r.to} ${r.address} failed`)
        .join(', '),
    );

    say(`relay: unblocking the direct path ${a.id} <-> ${b.id}`);
    const tUnblock = await mesh.unblockDirect(a.id, b.id);
    const tDirect = await mesh.waitForPath(pairs, 'direct', 30_000).catch(() => null);
    check(backend, 'relay: both nodes back on path direct', tDirect !== null, `after ${secs(tDirect && tDirect - tUnblock)}`);
    const direct = await mesh.pingMatrix(3, pairs);
    check(
      backend,
      `relay: ${a.id} <-> ${b.id} pings on the direct path`,
      direct.every((r) => r.ok),
    );
    say(`rustynet status (node ${a.id}) after the unblock:`);
    process.stdout.write(`${indent(await mesh.statusText(a.id))}\n`);
    await pinger.stop();
    const gaps = pinger.replies.slice(1).map((t, i) => t - pinger.replies[i]);
    say(
      `relay: timeline: block -> both on relay ${secs(tRelay && tRelay - tBlock)}, first reply via relay ${secs(tTraffic && tTraffic - tBlock)}; ` +
        `unblock -> both direct ${secs(tDirect && tDirect - tUnblock)}; longest ping gap ${secs(Math.max(0, ...gaps))}`,
    );
  } finally {
    await pinger.stop();
    await mesh.unblockDirect(a.id, b.id).catch(() => undefined);
  }
}
