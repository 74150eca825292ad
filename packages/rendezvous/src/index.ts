/**
 * wsstar rendezvous server: peers join with a crypto challenge, discover
 * each other through bounded batched deltas, and dial each other through
 * the server, which relays their bytes under end-to-end credit flow
 * control. See docs/PROTOCOL.md.
 */
export { createRendezvousServer } from './server.js'
export type { RendezvousServer, RendezvousStats } from './server.js'
export type { LegacyStats } from './legacy/legacy-gateway.js'
export { InMemoryPeerRegistry } from './peer-registry.js'
export type { PeerRegistry, PeerRecord } from './peer-registry.js'
export { RedisPeerRegistry } from './redis-peer-registry.js'
export type { RedisPeerRegistryInit } from './redis-peer-registry.js'
export { DEFAULT_ADMIN_HOST, DEFAULT_HOST, DEFAULT_PORT } from './options.js'
export { DEFAULT_LIMITS, LIMIT_NAMES } from './limits.js'
export { TlsCredentialsError } from './tls-credentials.js'
export type { ClusterOptions, RendezvousLimits, RendezvousServerOptions } from './options.js'
export type { DialInfo, DialState } from './dial.js'
export type { Health, ServerStatus } from './http-endpoints.js'
export type { BuildInfo } from './build-info.js'
