import { join } from 'node:path';
import {
  itCatchesBrokenFixtures,
  itPassesReferenceRun,
  itWritesJunit,
  ROOT,
  useTmpDir,
  type FixtureExpectation,
} from './helpers/self-test.js';

const PLUGIN = join(ROOT, 'plugins', 'dns-magic');

/** Broken dns fixtures (each wraps the real plugin by package name) and the test meant to catch each. */
export const DNS_FIXTURES: Record<string, FixtureExpectation> = {
  'dns-crashes-on-junk': { target: 'dns.robustness.malformed', control: 'dns.records.a' },
  'dns-noerror-for-nxdomain': { target: 'dns.records.nxdomain', control: 'dns.records.a' },
  'dns-update-restarts': { target: 'dns.update.no-restart', control: 'dns.records.a' },
  'dns-suffix-match': { target: 'dns.names.near-miss', control: 'dns.records.a' },
  'dns-case-sensitive': { target: 'dns.names.mixed-case', control: 'dns.records.a' },
  'dns-constant-serial': { target: 'dns.update.serial-increases', control: 'dns.records.a' },
  'dns-ignores-ttl': { target: 'dns.config.ttl', control: 'dns.records.a' },
  'dns-ignores-rate-limit': { target: 'dns.config.rate-limit', control: 'dns.records.a' },
  'dns-ignores-forwarder': { target: 'dns.config.forwarder', control: 'dns.records.a' },
};

describe('dns suite against @rustynet/dns-magic and broken fixtures (int, root)', function () {
  this.timeout(180_000);
  const tmp = useTmpDir('rnt-dns-', { requireBuilt: PLUGIN });

  itPassesReferenceRun({
    title: 'the reference plugin passes every test in under 60 s; the JSON report validates; skips carry reasons',
    plugin: PLUGIN,
    kind: 'dns',
    label: 'dns',
    maxSeconds: 60,
    passedMoreThan: 15,
    tmp,
  });

  itWritesJunit({
    title: 'writes JUnit XML with dns.<area> class names',
    plugin: PLUGIN,
    grep: 'dns\\.(manifest|records)\\.',
    expectXml: ['<testcase classname="dns.manifest" name="dns.manifest.schema-valid"', 'failures="0"'],
    tmp,
  });

  itCatchesBrokenFixtures({
    fixtures: DNS_FIXTURES,
    tmp,
    title: (name, { target, control }) => `self-test: ${name} fails ${target} and passes ${control}`,
  });
});
