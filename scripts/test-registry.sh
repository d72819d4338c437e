#!/usr/bin/env bash
# The published-package path, end to end (issue #13): starts a real npm registry (verdaccio) on
# loopback with its storage in a temp dir, publishes every public @rustynet/* package to it, then
# in a clean folder outside the repository does what a third-party author does:
#   npx @rustynet/conformance-kit init  ->  npm install  ->  npm run build  ->  npm test
#   ->  npm run conformance (rustynet plugin test, as root)
# and installs the published WireGuard backend to run the kit's traffic tests on it (real
# packets between network namespaces). @rustynet/* resolve only from the local registry; every
# other package comes through verdaccio's uplink to the public registry.
#   sudo bash scripts/test-registry.sh            (about 3-6 minutes; RUSTYNET_KEEP_TMP=1 keeps the temp dir)
# RUSTYNET_KIT_LOCK=<file> runs the two kit runs (network namespaces) under flock on that file,
# for machines where several test runs share the host.
# Cleans up the registry process and the temp dir on exit, on failure and on Ctrl-C.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
say() { printf 'test-registry: %s\n' "$*"; }
die() { printf 'rustynet: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || { printf 'rustynet: PERMISSION_DENIED: the conformance kit builds network namespaces: run as root (sudo bash %s)\n' "$0" >&2; exit 2; }
VERDACCIO="$ROOT/node_modules/.bin/verdaccio"
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

# 3. A third-party author, in a folder outside the repository, with nothing but the registry.
WORK="$TMP/work"
mkdir -p "$WORK"
cd "$WORK"
npm exec --yes --package=@rustynet/conformance-kit@^1 -- rustynet-conformance init @acme/backend-demo --dir backend-demo
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
say "scaffold installed, built and unit-tested in $((T_INSTALL - T_PUB)) s"
# What the template passes before its data plane is written (its README says so), then the kit's
# exit code: 0 only when every selected test passed.
kit_lock npm run conformance -- --grep 'backend\.(manifest\.(schema-valid|name-format)|keys\.generate|state\.(not-running-before-start|bad-start-config)):' \
  --reporter json --output "$TMP/scaffold-report.json" >"$TMP/scaffold-run.log" 2>&1 || { cat "$TMP/scaffold-run.log" >&2; die "the scaffolded plugin failed the kit"; }
node -e "const r=require('$TMP/scaffold-report.json'); if (r.summary.passed !== 5 || r.summary.failed) { console.error(JSON.stringify(r.summary)); process.exit(1) } console.log('test-registry: scaffold: rustynet plugin test: ' + JSON.stringify(r.summary) + ' in ' + r.durationMs + ' ms')"

# 4. Real traffic through published packages: the reference WireGuard backend from the registry.
npm install --no-audit --no-fund --loglevel=error --save-dev @rustynet/backend-wireguard@^1
kit_lock npx rustynet plugin test @rustynet/backend-wireguard --profile quick \
  --grep 'backend\.(peers\.(ping-two-peers|udp-echo|tcp-echo)|encryption\.marker-not-in-underlay):' \
  --reporter json --output "$TMP/wg-report.json" >"$TMP/wg-run.log" 2>&1 || { cat "$TMP/wg-run.log" >&2; die "the published WireGuard backend failed the kit"; }
node -e "const r=require('$TMP/wg-report.json'); if (r.summary.passed !== 4 || r.summary.failed) { console.error(JSON.stringify(r.summary)); process.exit(1) } console.log('test-registry: @rustynet/backend-wireguard: rustynet plugin test: ' + JSON.stringify(r.summary) + ' in ' + r.durationMs + ' ms')"

END=$(date +%s)
say "ok in $((END - START)) s (publish $((T_PUB - START)) s, install+build $((T_INSTALL - T_PUB)) s, kit runs $((END - T_INSTALL)) s including any RUSTYNET_KIT_LOCK wait)"
