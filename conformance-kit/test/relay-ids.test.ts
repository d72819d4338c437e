import { relayTests } from '../src/suites/relay/index.js';
import { itCoversAreas, itHasWellFormedIds, itIsDocumented } from './helpers/suite-definition.js';

describe('relay suite definition (unit)', () => {
  itHasWellFormedIds('relay', relayTests);
  itCoversAreas('covers every area the relay contract names', relayTests, [
    'manifest',
    'state',
    'path',
    'register',
    'forward',
    'amplification',
    'limits',
    'flood',
    'teardown',
  ]);
  itIsDocumented('docs/conformance.md documents every relay test id', relayTests);
});
