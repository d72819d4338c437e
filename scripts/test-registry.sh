#!/usr/bin/env bash
# The published-package path, end to end (issue #13): starts a real npm registry (verdaccio) on
# loopback with its storage in a temp dir, publishes every public @rustynet/* package to it, then
# in a clean folder outside the repository does what a third-party author does:
#   npx @rustynet/conformance-kit init  ->  npm install  ->  npm run build  ->  npm test
#   npm create @rustynet/plugin  ->  npm install  ->  npm run build  ->  npm test
#   ->  npm run conformance (rustynet plugin test, as root)
# installs the published WireGuard backend to run the kit's traffic tests on it (real packets
# between network namespaces), and builds the daemon-style backends (examples/backend-tinc and
# examples/backend-fastd, copied outside the repository, dependencies from the registry only)
# and runs the kit on each. RUSTYNET_REGISTRY_ONLY=fastd (or tinc) runs only that one of the two. @rustynet/* resolve only from the local registry; every
# other package comes through verdaccio's uplink to the public registry.
#   sudo bash scripts/test-registry.sh            (about 3-6 minutes; RUSTYNET_KEEP_TMP=1 keeps the temp dir)
# RUSTYNET_KIT_LOCK=<file> runs the kit runs (network namespaces) under flock on that file,
# for machines where several test runs share the host.
# Cleans up the registry process and the temp dir on exit, on failure and on Ctrl-C.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
say() { printf 'test-registry: %s\n' "$*"; }
die() { printf 'rustynet: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || { printf 'rustynet: PERMISSION_DENIED: the conformance kit builds network namespaces: run as root (sudo bash %s)\n' "$0" >&2; exit 2; }
VERDACCIO="$ROOT/node_modules/.bin/verdaccio"
command -v tincd >/dev/null || [ -x /usr/sbin/tincd ] || { printf 'rustynet: DEPENDENCY_MISSING: tincd (Debian package tinc) is not installed: the third backend needs it (apt-get install tinc)\n' >&2; exit 2; }
command -v fastd >/dev/null || { printf 'rustynet: DEPENDENCY_MISSING: fastd (Debian package fastd) is not installed: the fastd backend needs it (apt-get install fastd)\n' >&2; exit 2; }
[ -x "$VERDACCIO" ] || { printf 'rustynet: DEPENDENCY_MISSING: verdaccio is not installed: run npm ci in %s\n' "$ROOT" >&2; exit 2; }
UPLINK="$(cd "$ROOT" && npm config get registry)"
# Settings of the caller's npm config that installs need (nodedir: native modules such as
# better-sqlite3 build against local headers, offline), carried into the temp npmrc.
NODEDIR="$(cd "$ROOT" && npm config get nodedir)"
START=$(date +%s)
kit_lock() { if [ -n "${RUSTYNET_KIT_LOCK:-}" ]; then flock "$RUSTYNET_KIT_LOCK" "$@"; else "$@"; fi; }

TMP="$(mktemp -d /tmp/rn-registry.XXXXXX)"
chmod 700 "$TMP"
VPID=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$VPID" ] && kill -0 "$VPID" 2>/dev/null; then
    kill "$VPID" 2>/dev/null || true
    wait "$VPID" 2>/dev/null || true
  fi
  if [ "$rc" -ne 0 ] && [ -f "$TMP/verdaccio.log" ]; then
    printf 'test-registry: failed (exit %s); verdaccio log tail:\n' "$rc" >&2
    tail -n 20 "$TMP/verdaccio.log" >&2 || true
  fi
  if [ -n "${RUSTYNET_KEEP_TMP:-}" ]; then say "kept $TMP"; else rm -rf "$TMP"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# 1. A registry on loopback: a free port, storage and config in the temp dir.
PORT="$(node -e "const s=require('node:net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")"
REG="http://127.0.0.1:$PORT/"
cat >"$TMP/verdaccio.yaml" <<YAML
storage: $TMP/storage
listen: 127.0.0.1:$PORT
auth:
  htpasswd:
    file: $TMP/htpasswd
    max_users: 1
uplinks:
  npmjs:
    url: $UPLINK
    timeout: 60s
packages:
  '@rustynet/*':
    access: \$all
    publish: \$authenticated
  '**':
    access: \$all
    proxy: npmjs
log: { type: file, path: $TMP/verdaccio.log, level: warn }
YAML
"$VERDACCIO" --config "$TMP/verdaccio.yaml" >"$TMP/verdaccio.out" 2>&1 &
VPID=$!
for _ in $(seq 1 100); do
  curl -fsS "${REG}-/ping" >/dev/null 2>&1 && break
  kill -0 "$VPID" 2>/dev/null || { cat "$TMP/verdaccio.out" >&2; die "INTERNAL: verdaccio exited at start"; }
  sleep 0.2
done
curl -fsS "${REG}-/ping" >/dev/null || die "TIMEOUT: verdaccio did not answer on $REG within 20 s"
say "verdaccio $("$VERDACCIO" --version) on $REG (pid $VPID), storage $TMP/storage, uplink $UPLINK"

# A CI user with a random password; its token goes only into a temp npmrc (0600) used by
# npm publish, never argv. Installs read anonymously (each authenticated request costs verdaccio
# a bcrypt check).
export NPM_CONFIG_USERCONFIG="$TMP/npmrc"
export NPM_CONFIG_CACHE="$TMP/npm-cache"
export NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_FUND=false NPM_CONFIG_AUDIT=false
umask 077
node --input-type=module - "$REG" "$TMP/npmrc" "$NODEDIR" <<'JS'
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
const [reg, rc, nodedir] = process.argv.slice(2);
const body = { name: 'rustynet-ci', password: randomBytes(24).toString('base64url') };
const r = await fetch(new URL('-/user/org.couchdb.user:rustynet-ci', reg), {
  method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
});
const j = await r.json();
if (!r.ok || typeof j.token !== 'string') { console.error(`rustynet: AUTH_FAILED: verdaccio refused the CI user: ${r.status} ${JSON.stringify(j)}`); process.exit(1); }
const host = new URL(reg).host;
const extra = nodedir && nodedir !== 'undefined' && nodedir !== 'null' ? `nodedir=${nodedir}\n` : '';
writeFileSync(rc, `registry=${reg}\n${extra}`, { mode: 0o600 });
writeFileSync(`${rc}.publish`, `registry=${reg}\n${extra}//${host}/:_authToken=${j.token}\n`, { mode: 0o600 });
JS
umask 022

# 2. Build and publish every public workspace package (the kit's prepack copies the template).
cd "$ROOT"
npm run build --silent
mapfile -t PKGS < <(node -e "
  const fs = require('node:fs');
  const root = JSON.parse(fs.readFileSync('package.json', 'utf8'));
  const dirs = root.workspaces.flatMap((w) => w.endsWith('/*') ? fs.readdirSync(w.slice(0, -2)).map((d) => w.slice(0, -1) + d) : [w]);
  for (const d of dirs) { const p = JSON.parse(fs.readFileSync(d + '/package.json', 'utf8')); if (!p.private) console.log(d); }")
for d in "${PKGS[@]}"; do
  (cd "$ROOT/$d" && NPM_CONFIG_USERCONFIG="$TMP/npmrc.publish" npm publish --registry "$REG" --loglevel=error >"$TMP/publish.log" 2>&1) || { cat "$TMP/publish.log" >&2; die "INTERNAL: npm publish failed in $d"; }
done
say "published ${#PKGS[@]} packages: $(cd "$ROOT" && for d in "${PKGS[@]}"; do node -p "require('./$d/package.json').name + '@' + require('./$d/package.json').version"; done | tr '\n' ' ')"
T_PUB=$(date +%s)
say "phase build + publish: $((T_PUB - START)) s"

# 3. A third-party author, in a folder outside the repository, with nothing but the registry:
# `npm create @rustynet/plugin` (the published @rustynet/create-plugin, scaffolding from the
# template inside the published kit); it must refuse a non-empty folder.
WORK="$TMP/work"
mkdir -p "$WORK/taken"
cd "$WORK"
echo mine >taken/notes.txt
if npm create --yes @rustynet/plugin@latest taken >"$TMP/create-taken.log" 2>&1; then die "INTERNAL: npm create @rustynet/plugin wrote into a non-empty folder"; fi
grep -q 'rustynet: INVALID_INPUT: dir: .*taken exists and is not empty' "$TMP/create-taken.log" || { cat "$TMP/create-taken.log" >&2; die "INTERNAL: npm create @rustynet/plugin: no clear error for a non-empty folder"; }
npm create --yes @rustynet/plugin@latest backend-demo -- --name @acme/backend-demo
cd backend-demo
npm install --no-audit --no-fund --loglevel=error
node -e "
  const p = require.resolve('@rustynet/plugin-api/package.json');
  if (p.includes('$ROOT/')) { console.error('rustynet: INTERNAL: @rustynet/plugin-api resolved from the repository: ' + p); process.exit(1); }"
# The installed copy is the one published here (same integrity as the local registry's).
WANT="$(npm view @rustynet/plugin-api@^1 dist.integrity --registry "$REG" | tail -n 1)"
GOT="$(node -p "require('./node_modules/.package-lock.json').packages['node_modules/@rustynet/plugin-api'].integrity")"
[ "$WANT" = "$GOT" ] || die "INTERNAL: @rustynet/plugin-api did not come from $REG (integrity $GOT, registry has $WANT)"
npm run build
npm test
T_INSTALL=$(date +%s)
say "phase scaffold (npm create, install, build, unit tests): $((T_INSTALL - T_PUB)) s"
# What the template passes before its data plane is written (its README says so), then the kit's
# exit code: 0 only when every selected test passed.
kit_lock npm run conformance -- --grep 'backend\.(manifest\.(schema-valid|name-format)|keys\.generate|state\.(not-running-before-start|bad-start-config)|secrets\.key-file-mode):' \
  --reporter json --output "$TMP/scaffold-report.json" >"$TMP/scaffold-run.log" 2>&1 || { cat "$TMP/scaffold-run.log" >&2; die "the scaffolded plugin failed the kit"; }
node -e "const r=require('$TMP/scaffold-report.json'); if (r.summary.passed !== 6 || r.summary.failed) { console.error(JSON.stringify(r.summary)); process.exit(1) } console.log('test-registry: scaffold: rustynet plugin test: ' + JSON.stringify(r.summary) + ' in ' + r.durationMs + ' ms')"
T_SCAFFOLD_KIT=$(date +%s)
say "phase scaffold kit run: $((T_SCAFFOLD_KIT - T_INSTALL)) s"

# 4. Real traffic through published packages: the reference WireGuard backend from the registry.
npm install --no-audit --no-fund --loglevel=error --save-dev @rustynet/backend-wireguard@^1
kit_lock npx rustynet plugin test @rustynet/backend-wireguard --profile quick \
  --grep 'backend\.(peers\.(ping-two-peers|udp-echo|tcp-echo)|encryption\.marker-not-in-underlay):' \
  --reporter json --output "$TMP/wg-report.json" >"$TMP/wg-run.log" 2>&1 || { cat "$TMP/wg-run.log" >&2; die "the published WireGuard backend failed the kit"; }
node -e "const r=require('$TMP/wg-report.json'); if (r.summary.passed !== 4 || r.summary.failed) { console.error(JSON.stringify(r.summary)); process.exit(1) } console.log('test-registry: @rustynet/backend-wireguard: rustynet plugin test: ' + JSON.stringify(r.summary) + ' in ' + r.durationMs + ' ms')"

T_WG=$(date +%s)
say "phase WireGuard backend (install + kit run): $((T_WG - T_SCAFFOLD_KIT)) s"

# 5. The third backend, a daemon-style plugin written the way a third party would: the sources of
# examples/backend-tinc copied outside the repository, its dependencies (@rustynet/* and all)
# from the local registry only, built with its own tsc, then the whole kit (quick profile) on it.
# tinc 1.0 cannot pass two tests (its README, "Known failures"): the run must fail exactly those,
# apart from the restart-related tests its README lists as not yet reliable (reported, not fatal).
T_TINC_START=$(date +%s)
if [ "${RUSTYNET_REGISTRY_ONLY:-tinc}" = tinc ]; then
TINC="$WORK/backend-tinc"
mkdir -p "$TINC"
(cd "$ROOT/examples/backend-tinc" && cp -r package.json rustynet-plugin.json tsconfig.json README.md src "$TINC/")
cd "$TINC"
# --prefer-offline: the scaffold's install above already cached the same metadata and tarballs.
npm install --no-audit --no-fund --loglevel=error --prefer-offline
for p in plugin-api plugin-kit conformance-kit cli; do
  GOT="$(node -p "require('./node_modules/.package-lock.json').packages['node_modules/@rustynet/$p']?.resolved ?? 'missing'")"
  case "$GOT" in "$REG"*) ;; *) die "INTERNAL: backend-tinc: @rustynet/$p did not come from $REG (resolved: $GOT)" ;; esac
done
npm run build --silent
T_TINC_BUILD=$(date +%s)
say "phase backend-tinc install + build: $((T_TINC_BUILD - T_TINC_START)) s"
kit_lock npx rustynet plugin test . --profile quick --reporter json --output "$TMP/tinc-report.json" >"$TMP/tinc-run.log" 2>&1 || true
[ -s "$TMP/tinc-report.json" ] || { cat "$TMP/tinc-run.log" >&2; die "backend-tinc: the kit wrote no report"; }
node -e "
  const r = require('$TMP/tinc-report.json');
  const known = ['backend.encryption.aead-cipher', 'backend.isolation.spoofed-source'];
  // not yet reliable after a tincd restart (its README): reported, not fatal
  const timing = ['backend.fault.host-killed', 'backend.fault.process-killed', 'backend.repeat.restart-cycles', 'backend.endpoints.upsert-new-endpoint'];
  const failedAll = r.tests.filter((t) => t.status === 'failed').map((t) => t.id);
  const flaky = failedAll.filter((id) => timing.includes(id));
  const failed = failedAll.filter((id) => !timing.includes(id)).sort();
  if (JSON.stringify(failed) !== JSON.stringify(known)) {
    console.error('rustynet: backend-tinc: failed ' + JSON.stringify(failed) + ', want exactly the known tinc 1.0 gaps ' + JSON.stringify(known));
    process.exit(1);
  }
  const unnamed = r.tests.filter((t) => t.status === 'skipped' && !t.skipReason).map((t) => t.id);
  if (unnamed.length) { console.error('rustynet: backend-tinc: skips without a reason: ' + unnamed); process.exit(1); }
  console.log('test-registry: backend-tinc: rustynet plugin test: ' + JSON.stringify(r.summary) + ' in ' + r.durationMs + ' ms (failed the known tinc 1.0 gaps: ' + known.join(', ') + '; not yet reliable, failed this run: ' + (flaky.join(', ') || 'none') + ')')" \
  || { tail -n 60 "$TMP/tinc-run.log" >&2; die "backend-tinc failed the kit beyond its known gaps"; }
say "phase backend-tinc kit run: $(( $(date +%s) - T_TINC_BUILD )) s"
fi
T_TINC=$(date +%s)

# 6. The fastd backend, the same way (examples/backend-fastd). fastd v22 passes what tinc 1.0
# cannot (an AEAD data channel, per-peer devices for the source check), but holds back a new
# session with a peer for 15 s after the last one (its README), so traffic returns 15-35 s after
# a restart or re-add. Its manifest declares that (capabilities.sessionReestablishSeconds: 40),
# the kit waits up to that long only in the nine tests that re-establish a session, and the whole
# suite (quick profile) must pass in one run: no tolerated failures.
if [ "${RUSTYNET_REGISTRY_ONLY:-fastd}" = fastd ]; then
FASTD="$WORK/backend-fastd"
mkdir -p "$FASTD"
(cd "$ROOT/examples/backend-fastd" && cp -r package.json rustynet-plugin.json tsconfig.json README.md src "$FASTD/")
cd "$FASTD"
npm install --no-audit --no-fund --loglevel=error --prefer-offline
for p in plugin-api plugin-kit conformance-kit cli; do
  GOT="$(node -p "require('./node_modules/.package-lock.json').packages['node_modules/@rustynet/$p']?.resolved ?? 'missing'")"
  case "$GOT" in "$REG"*) ;; *) die "INTERNAL: backend-fastd: @rustynet/$p did not come from $REG (resolved: $GOT)" ;; esac
done
npm run build --silent
T_FASTD_BUILD=$(date +%s)
say "phase backend-fastd install + build: $((T_FASTD_BUILD - T_TINC)) s"
kit_lock npx rustynet plugin test . --profile quick --reporter json --output "$TMP/fastd-report.json" >"$TMP/fastd-run.log" 2>&1 \
  || { tail -n 80 "$TMP/fastd-run.log" >&2; die "backend-fastd failed the kit"; }
node -e "
  const r = require('$TMP/fastd-report.json');
  const unnamed = r.tests.filter((t) => t.status === 'skipped' && !t.skipReason).map((t) => t.id);
  if (unnamed.length) { console.error('rustynet: backend-fastd: skips without a reason: ' + unnamed); process.exit(1); }
  if (r.sessionReestablishSeconds !== 40) { console.error('rustynet: backend-fastd: the report does not record sessionReestablishSeconds 40: ' + r.sessionReestablishSeconds); process.exit(1); }
  const waits = r.tests.filter((t) => t.measurements && t.measurements.sessionReestablishMs !== undefined).map((t) => t.id.replace(/^backend\\./, '') + ' ' + (t.measurements.sessionReestablishMs / 1000).toFixed(1) + ' s');
  console.log('test-registry: backend-fastd: rustynet plugin test (sessionReestablishSeconds 40 declared): ' + JSON.stringify(r.summary) + ' in ' + r.durationMs + ' ms; longest session waits: ' + (waits.join(', ') || 'none'))"
say "phase backend-fastd kit run: $(( $(date +%s) - T_FASTD_BUILD )) s"
fi
T_FASTD=$(date +%s)

END=$(date +%s)
say "ok in $((END - START)) s (publish $((T_PUB - START)) s, scaffold $((T_INSTALL - T_PUB)) s, scaffold kit $((T_SCAFFOLD_KIT - T_INSTALL)) s, WireGuard $((T_WG - T_SCAFFOLD_KIT)) s, backend-tinc $((T_TINC - T_WG)) s, backend-fastd $((T_FASTD - T_TINC)) s; kit runs include any RUSTYNET_KIT_LOCK wait)"
