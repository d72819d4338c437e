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
  },
};
