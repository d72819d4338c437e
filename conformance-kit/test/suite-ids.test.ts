import { backendTests } from '../src/suites/backend/index.js';
import { itCoversAreas, itHasWellFormedIds, itIsDocumented } from './helpers/suite-definition.js';

describe('backend suite definition (unit)', () => {
  itHasWellFormedIds('backend', backendTests);
  itCoversAreas('covers every area the contract names', backendTests, [
    'manifest',
    'state',
    'peers',
    'endpoints',
    'routes',
    'stats',
    'encryption',
    'secrets',
    'bad-input',
    'teardown',
  ]);
  itIsDocumented('docs/conformance.md documents every test id', backendTests);
});
