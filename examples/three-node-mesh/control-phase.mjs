// The demo's control-plane phase: a second three-node mesh whose nodes get their netmaps from
// `rustynet control serve` (in its own namespace on the underlay) instead of netmap files. The
// testbed starts the server, writes one one-time pre-auth key file (0600) per node, and every
// rustynetd enrols with it (`netmap.control` in its config). Then `rustynet control nodes remove c`
// and c is cut off: its peers drop it and it reaches no one, while a and b still talk.

/**
 * Runs the phase for `backend`.
 * @param ctx { Mesh, backend, repoRoot, say, indent, secs, check, setMesh, isInterrupted }
 */
export async function showControlPlane(ctx) {
  const { Mesh, backend, repoRoot, say, indent, secs, check, setMesh } = ctx;
  say(`control plane: a new mesh whose nodes enrol with rustynet control serve (backend ${backend})`);
  const mesh = await Mesh.create({ backends: [backend], cwd: repoRoot, log: say, logLevel: 'info', control: {} });
  setMesh(mesh);
  try {
    say(`control plane host: underlay ${mesh.control.host.underlayAddress}, node API ${mesh.control.url}`);
    const t0 = Date.now();
    await mesh.startDaemons(backend, undefined, 120_000);
    const enrolled = await mesh.control.nodes();
    check(
      backend,
      'control: 3 nodes enrolled with one-time pre-auth keys',
      enrolled.length === 3,
      `all up after ${secs(Date.now() - t0)}; ${enrolled.map((n) => `${n.id} ${n.addresses.join(' ')}`).join(', ')}`,
    );
    say('rustynet control nodes list:');
    process.stdout.write(`${indent(await ctx.rustynet(['control', 'nodes', 'list', '--data', mesh.control.dataDir]))}\n`);
    if (ctx.isInterrupted()) return;
    say('pinging every node from every other over the mesh (addresses from the control plane)');
    const results = await mesh.pingMatrix();
    process.stdout.write(
      `${indent(
        Mesh.renderMatrix(
          results,
          mesh.nodes.map((n) => n.id),
        ),
      )}\n`,
    );
    const failed = results.filter((r) => !r.ok);
    check(
      backend,
      `control: all ${results.length} pings answered`,
      failed.length === 0,
      failed.map((r) => `${r.from}->${r.to}`).join(', '),
    );
    if (ctx.isInterrupted()) return;

    say('control: rustynet control nodes remove c');
    const tRemove = Date.now();
    await mesh.control.removeNode('c');
    await mesh.waitFor((id, s) => id === 'c' || !s.peers.some((p) => p.id === 'c'), 'without peer c', 15_000);
    check(backend, 'control: a and b dropped the removed node c', true, `after ${secs(Date.now() - tRemove)}`);
    const cut = await mesh.pingMatrix(1, [
      ['c', 'a'],
      ['c', 'b'],
      ['a', 'c'],
      ['b', 'c'],
    ]);
    const through = cut.filter((r) => r.ok);
    check(
      backend,
      'control: removed node c reaches no one (and no one reaches c)',
      through.length === 0,
      through.length
        ? `${through.length} answered: ${through.map((r) => `${r.from}->${r.to}`).join(', ')}`
        : `${cut.length} pings unanswered`,
    );
    const ab = await mesh.pingMatrix(undefined, [
      ['a', 'b'],
      ['b', 'a'],
    ]);
    check(
      backend,
      'control: a and b still reach each other',
      ab.every((r) => r.ok),
      `${ab.filter((r) => r.ok).length}/${ab.length} answered`,
    );

    const exits = await mesh.stopDaemons();
    const unclean = Object.entries(exits).filter(([, e]) => e.code !== 0);
    check(
      backend,
      'control: all daemons stopped cleanly',
      unclean.length === 0,
      unclean.map(([id, e]) => `${id} (${JSON.stringify(e)})`).join(', '),
    );
  } finally {
    if (!ctx.isInterrupted()) {
      say('tearing down the control-plane mesh: daemons, control server, namespaces, tunnel devices, work dir');
      await mesh.destroy();
      const left = await mesh.leftovers({ namespacesGone: true });
      check(backend, 'control: everything removed', left.length === 0, left.join('; '));
    }
  }
}
