/**
 * Finds the wsstar `RelayedConnection` under a libp2p `Connection`, so code
 * that only sees libp2p connections (the direct upgrade) can tell which ones
 * run through a rendezvous server and how many bytes they carried.
 *
 * libp2p's `Connection` does not expose its MultiaddrConnection, but it keeps
 * the MultiaddrConnection's `timeline` object as its own `timeline` (both
 * public fields). The registry is keyed by that object, weakly, so it holds
 * nothing alive. A contract test checks the sharing against the real libp2p.
 *
 * Imports nothing but types.
 */
import type { RelayedConnection } from './relayed-connection.js'
import type { Connection, MultiaddrConnectionTimeline } from '@libp2p/interface'

const byTimeline = new WeakMap<MultiaddrConnectionTimeline, RelayedConnection>()

export function registerRelayedConnection (maConn: RelayedConnection): void {
  byTimeline.set(maConn.timeline, maConn)
}

/** The relayed connection under `connection`, or `undefined` when it is not a wsstar connection. */
export function relayedConnectionOf (connection: Pick<Connection, 'timeline'>): RelayedConnection | undefined {
  return byTimeline.get(connection.timeline)
}
