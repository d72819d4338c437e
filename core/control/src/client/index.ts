/**
 * `@rustynet/control/client`: what a daemon needs to talk to the control plane, without the
 * server (no SQLite): {@link ControlClient} and {@link ControlNetmapSource}.
 */
export { ControlClient, type ControlClientOptions, type EnrolParams, type EnrolReply } from './control-client.js';
export { ControlNetmapSource, REFUSAL_ACTIONS, refusalOf, type ControlNetmapSourceOptions } from './control-netmap-source.js';
export { signRequest, requestSigningBytes, REQUEST_SIGNING_CONTEXT } from '../auth/request-signature.js';
export { enrolSigningBytes, ENROL_SIGNING_CONTEXT } from '../auth/enrol-signature.js';
