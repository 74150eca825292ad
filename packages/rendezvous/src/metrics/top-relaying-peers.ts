import type { Session } from '../session/session.js'

/** How many sockets `/status.json` lists by bytes relayed: a bounded answer however many are connected. */
export const TOP_RELAYING_PEERS = 10

/** One socket of the top list: what it relayed since it connected. */
export interface RelayingPeer {
  /** the peer ids the socket holds now (none: it left them all, its dials went with them) */
  peerIds: string[]
  /** payload bytes the socket sent over its dials */
  sentBytes: number
  /** payload bytes relayed to the socket */
  receivedBytes: number
  /** its relay rate, payload bytes per second (0: no limit) */
  relayRate: number
}

/**
 * The `n` connected sockets that relayed the most (sent plus received),
 * most first. Read at request time off the plain counters each session
 * bumps per frame, so relaying a frame pays no bookkeeping for it and no
 * peer id ever becomes a metric label. O(sockets × n), for an operator's
 * page polled about once a second.
 */
export function topRelayingPeers (sessions: Iterable<Session>, n: number = TOP_RELAYING_PEERS): RelayingPeer[] {
  /** the best so far, most first, at most n */
  const top: Session[] = []
  if (n < 1) {
    return []
  }
  const total = (s: Session): number => s.relayedOut + s.relayedIn
  for (const session of sessions) {
    const bytes = total(session)
    if (bytes === 0 || (top.length === n && bytes <= total(top[n - 1]))) {
      continue
    }
    let i = top.length === n ? n - 1 : top.length
    while (i > 0 && total(top[i - 1]) < bytes) {
      top[i] = top[i - 1]
      i--
    }
    top[i] = session
    if (top.length > n) {
      top.length = n
    }
  }
  return top.map(s => ({ peerIds: [...s.peerIds], sentBytes: s.relayedOut, receivedBytes: s.relayedIn, relayRate: s.relayRate }))
}
