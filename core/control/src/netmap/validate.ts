/**
 * The checks a built netmap must pass before it is signed: the plugin-api netmap JSON Schema
 * (ajv) and the daemon's semantic checks (`checkNetmapSemantics`: unique ids and addresses,
 * host prefixes, CIDR selectors without host bits, expiry after issue). The same checks the
 * daemon's trust runs, so a map the control plane signs is never refused for its content.
 */
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { RustynetError, netmapSchema, type Netmap } from '@rustynet/plugin-api';
import { checkNetmapSemantics } from '@rustynet/daemon';

// ajv-formats is CommonJS with `exports.default`: under NodeNext the default import is the module.
const addFormats = addFormatsModule.default;
const ajv = new Ajv({ allErrors: false, strict: false });
addFormats(ajv);
const validateSchema = ajv.compile(netmapSchema);

/**
 * Validates a netmap the control plane built.
 * @throws RustynetError `NETMAP_INVALID` with `field` (a JSON pointer or a dotted path).
 */
export function validateBuiltNetmap(netmap: Netmap): void {
  if (!validateSchema(netmap)) {
    const e = validateSchema.errors?.[0];
    const field = e?.instancePath ?? '';
    throw new RustynetError('NETMAP_INVALID', `netmap ${field}: ${e?.message ?? 'invalid'}`, { field });
  }
  checkNetmapSemantics(netmap);
}
