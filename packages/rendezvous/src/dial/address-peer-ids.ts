import { parsePeerAddress } from '@wsstar/protocol'

/** Most address strings remembered (FIFO eviction). */
const MAX_ENTRIES = 16_384
/** Longer strings are parsed every time: the cache stays under ~8 MB whatever clients send. */
const MAX_CACHED_LENGTH = 256

/**
 * The peer id a peer address names, parsed once per address string. A dial
 * names two addresses and parsing one (multiaddr, matcher, peer id
 * decoding, then `PeerId.toString()`) cost more server CPU than the rest of
 * the dial request; clients dial the same few addresses over and over.
 *
 * Parsing is a pure function of the string, so a hit answers exactly what a
 * parse would. Only valid addresses are stored; invalid ones throw the
 * parser's WsStarError each time, as before.
 */
export class AddressPeerIds {
  readonly #peerIds = new Map<string, string>()

  /** The peer id string of `address`; throws INVALID_ADDRESS like `parsePeerAddress`. */
  of (address: unknown): string {
    if (typeof address === 'string') {
      const known = this.#peerIds.get(address)
      if (known !== undefined) {
        return known
      }
    }
    const peerId = parsePeerAddress(address).peerId.toString()
    if ((address as string).length <= MAX_CACHED_LENGTH) {
      if (this.#peerIds.size >= MAX_ENTRIES) {
        // Map iterates in insertion order: drop the oldest
        this.#peerIds.delete(this.#peerIds.keys().next().value as string)
      }
      this.#peerIds.set(address as string, peerId)
    }
    return peerId
  }
}
