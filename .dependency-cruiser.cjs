/**
 * Architecture rules from the design brief, checked by `npm run depcheck` and by the test
 * core/plugin-api/test/dependency-rules.test.ts. Paths are the compiled files (dist/src).
 */
module.exports = {
  forbidden: [
    {
      name: 'plugin-api-depends-on-nothing-of-ours',
      comment: '@rustynet/plugin-api is contracts only: it imports nothing outside itself (node built-ins excepted).',
      severity: 'error',
      from: { path: '^core/plugin-api/dist/src' },
      to: { pathNot: ['^core/plugin-api/dist/src'], dependencyTypesNot: ['core'] },
    },
    {
      name: 'daemon-never-imports-a-plugin',
      comment: 'Plugins reach the daemon only through the loader.',
      severity: 'error',
      from: { path: '^core/daemon/dist/src' },
      to: { path: '^plugins/' },
    },
    {
      name: 'plugins-never-import-the-daemon-or-cli',
      severity: 'error',
      from: { path: '^plugins/[^/]+/dist/src' },
      to: { path: '^core/(daemon|cli)/' },
    },
    {
      name: 'plugins-never-import-each-other',
      severity: 'error',
      from: { path: '^plugins/([^/]+)/dist/src' },
      to: { path: '^plugins/', pathNot: '^plugins/$1/' },
    },
    {
      name: 'kit-never-imports-a-plugin',
      comment: 'The conformance kit tests plugins through the contracts and the loader only.',
      severity: 'error',
      from: { path: '^conformance-kit/dist/src' },
      to: { path: '^plugins/' },
    },
    {
      name: 'plugins-import-only-plugin-api-and-plugin-kit-of-ours',
      comment:
        'Of our packages a plugin imports the contracts (core/plugin-api) and the author helpers ' +
        '(@rustynet/plugin-kit, core/plugin-kit) only: never the testbed, the control plane or the conformance kit. ' +
        'The daemon and cli have their own rule above; other plugins: plugins-never-import-each-other.',
      severity: 'error',
      from: { path: '^plugins/[^/]+/dist/src' },
      to: { path: '^(core/|conformance-kit/)', pathNot: '^core/(plugin-api|plugin-kit|daemon|cli)/' },
    },
    {
      name: 'plugin-kit-imports-only-plugin-api-of-ours',
      comment:
        '@rustynet/plugin-kit (core/plugin-kit) is a helper library on top of the contracts: of our packages it ' +
        'imports core/plugin-api only (npm libraries and node built-ins are fine). Written by path, so it holds ' +
        'whether or not core/plugin-kit exists yet.',
      severity: 'error',
      from: { path: '^core/plugin-kit/dist/src' },
      to: { path: '^(core/|plugins/|conformance-kit/|examples/|bench/)', pathNot: '^core/(plugin-api|plugin-kit)/' },
    },
    {
      name: 'only-tests-benches-examples-import-the-testbed',
      comment:
        'core/testbed (@rustynet/testbed, private) is the test rig: only tests, benches and examples import it; ' +
        'nothing shipped does. (Test files are excluded from cruising below; the pathNot keeps them allowed ' +
        'when cruised on purpose.) An unresolved @rustynet/testbed counts too.',
      severity: 'error',
      from: { pathNot: ['^core/testbed/', '(^|/)test/', '^bench/', '^examples/'] },
      to: { path: '^(core/testbed/|@rustynet/testbed(/|$))' },
    },
    {
      name: 'cli-loads-the-kit-on-demand',
      comment:
        'core/cli imports @rustynet/conformance-kit only with a dynamic import() (plugin test / plugin init), ' +
        'so rustynet status and the daemon never load it. An unresolved @rustynet/conformance-kit counts too.',
      severity: 'error',
      from: { path: '^core/cli/dist/src' },
      to: { path: '^(conformance-kit/|@rustynet/conformance-kit(/|$))', dependencyTypesNot: ['dynamic-import'] },
    },
    {
      name: 'control-imports-only-plugin-api-and-daemon-of-ours',
      comment:
        "@rustynet/control (core/control) builds on the contracts and reuses the daemon's exports (netmap signer, " +
        'key helpers, the NetmapSource interface): never a plugin, the testbed, the cli or the conformance kit.',
      severity: 'error',
      from: { path: '^core/control/dist/src' },
      to: { path: '^(core/|plugins/|conformance-kit/|examples/|bench/)', pathNot: '^core/(plugin-api|daemon|control)/' },
    },
    {
      name: 'daemon-never-imports-the-control-plane',
      comment:
        'core/control depends on core/daemon, so the reverse would be a cycle: the binary (core/cli) hands the ' +
        'daemon a ControlNetmapSource as its NetmapSource.',
      severity: 'error',
      from: { path: '^core/daemon/dist/src' },
      to: { path: '^(core/control/|@rustynet/control(/|$))' },
    },
    {
      name: 'core-never-imports-the-kit-or-cli',
      severity: 'error',
      from: { path: '^core/(plugin-api|daemon)/dist/src' },
      to: { path: '^(conformance-kit|core/cli)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)dist/test/' },
    moduleSystems: ['es6', 'cjs'],
    combinedDependencies: false,
    preserveSymlinks: false,
    // Resolve package subpath exports (e.g. @rustynet/conformance-kit/harness) like node does,
    // so the rules see where such an import really goes.
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'default'] },
  },
};
