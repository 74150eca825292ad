import type { TokenGrant } from './token-grants.js'

/** How many tokens `/status.json` lists by bytes relayed: a bounded answer however long the token file is. */
export const TOP_RELAYING_TOKENS = 10

/** One token of the top list (token mode): what the sockets that presented it relayed. */
export interface RelayingToken {
  /** the token's label (`name=`, else the start of its digest): never the token */
  name: string
  /** registrations its sockets hold now */
  peers: number
  /** payload bytes its sockets sent over their dials since the token was first read */
  sentBytes: number
  /** payload bytes relayed to its sockets since the token was first read */
  receivedBytes: number
}

/**
 * The `n` tokens whose sockets relayed the most (sent plus received), most
 * first. The counters live on each token's grant, bumped with the session's
 * own per-frame counters (Session.sentData, sendData), so they survive the
 * sockets that made them; read here at request time.
 */
export function topRelayingTokens (grants: Iterable<TokenGrant>, n: number = TOP_RELAYING_TOKENS): RelayingToken[] {
  const relayed = [...grants].filter(g => g.relayedOut + g.relayedIn > 0)
  relayed.sort((a, b) => (b.relayedOut + b.relayedIn) - (a.relayedOut + a.relayedIn))
  return relayed.slice(0, Math.max(0, n)).map(g => ({ name: g.name, peers: g.registrations, sentBytes: g.relayedOut, receivedBytes: g.relayedIn }))
}
