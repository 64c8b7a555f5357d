export { sign, verifySignature, SIGNATURE_PREFIX } from './signature.js';
export type { VerifyResult, SignatureFailure } from './signature.js';
