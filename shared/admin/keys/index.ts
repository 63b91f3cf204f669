/**
 * API keys of integrations and organisations, as operators manage them: the one
 * implementation the admin CLI, the local stack and the tests all use, so a key made
 * anywhere reads the same to the exchange. The plaintext key is returned once, at creation
 * (or reroll), and stored nowhere; listings carry ids and metadata, never a hash.
 */
export { createApiKey, type NewKey, type NewKeyInput } from './create';
export { allKeysByOwner, listApiKeys, showApiKey } from './list';
export { keyAndUsageRecord, latestUse, unusedSince } from './lastUse';
export type { KeyRef } from './locate';
export type { KeyRecord } from './records';
export { revokeApiKey, setKeyTier } from './revoke';
export { rerollApiKey } from './reroll';
