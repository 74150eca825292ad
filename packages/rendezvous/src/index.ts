/**
 * wsstar rendezvous server: peers join with a crypto challenge, discover
 * each other through bounded batched deltas, and dial each other through
 * the server, which relays their bytes under end-to-end credit flow
 * control. See docs/PROTOCOL.md.
 */
export { createRendezvousServer } from './server.js'
export type { RendezvousServer, RendezvousStats } from './server.js'
export type { LegacyStats } from './legacy/legacy-gateway.js'
export { DEFAULT_NAMESPACE, InMemoryPeerRegistry } from './discovery/peer-registry.js'
export type { PeerRegistry, PeerRecord } from './discovery/peer-registry.js'
export { RedisPeerRegistry } from './cluster/redis-peer-registry.js'
export type { RedisPeerRegistryInit } from './cluster/redis-peer-registry.js'
export { DEFAULT_ADMIN_HOST, DEFAULT_HOST, DEFAULT_PORT } from './options.js'
export { DEFAULT_LIMITS, LIMIT_NAMES } from './limits.js'
export { TlsCredentialsError } from './http/tls-credentials.js'
export { AuthFileError } from './auth/token-file.js'
export type { AuthMode, AuthOptions, ClusterOptions, DialScope, RendezvousLimits, RendezvousServerOptions } from './options.js'
export type { DialInfo, DialState } from './dial/dial.js'
export type { Health, RelayingPeerStatus, ServerStatus } from './http/http-endpoints.js'
export type { BuildInfo } from './runtime/build-info.js'
