import { randomBytes } from 'node:crypto'
import { NONCE_BYTES } from '@wsstar/protocol'
import type { PublicKey } from '@libp2p/interface'
import type { WebSocketStarAddress } from '@wsstar/protocol'

/** A nonce handed out in join step 1, waiting for the signature of step 2. */
export interface PendingChallenge {
  nonce: string
  /** the key that must have signed (checked against the peer id in step 1) */
  publicKey: PublicKey
  expiresAt: number
  /** the address step 1 parsed, checked and made canonical (what gets registered), so step 2 need not parse it again */
  parsed: WebSocketStarAddress
  /** the namespaces the hello named: what the proof registers (undefined: the default namespace) */
  namespaces?: readonly string[]
}

export interface JoinChallengeStoreInit {
  ttlMs: number
  maxPerSocket: number
  now?: () => number
  /** an outstanding nonce was dropped to stay within maxPerSocket */
  onLimit?(): void
}

/**
 * Outstanding join nonces, bound to one socket and one address string
 * (exactly as sent in step 1: it is part of the signed payload). Single use:
 * `take` removes the nonce whether or not it is still valid. At most
 * `maxPerSocket` per socket; a new hello for the same address replaces its
 * nonce, and beyond the bound the oldest is dropped. Expired entries are
 * pruned lazily, so the store needs no timer.
 */
export class JoinChallengeStore {
  readonly #bySocket = new Map<string, Map<string, PendingChallenge>>()
  readonly #ttlMs: number
  readonly #maxPerSocket: number
  readonly #now: () => number
  readonly #onLimit?: () => void
  #size = 0

  constructor (init: JoinChallengeStoreInit) {
    this.#ttlMs = init.ttlMs
    this.#maxPerSocket = init.maxPerSocket
    this.#now = init.now ?? Date.now
    this.#onLimit = init.onLimit
  }

  /** Outstanding nonces over all sockets (expired ones included until pruned). */
  get size (): number {
    return this.#size
  }

  issue (socketId: string, address: string, publicKey: PublicKey, parsed: WebSocketStarAddress, namespaces?: readonly string[]): string {
    let pending = this.#bySocket.get(socketId)
    if (pending == null) {
      pending = new Map()
      this.#bySocket.set(socketId, pending)
    }
    const now = this.#now()
    for (const [key, challenge] of pending) {
      if (challenge.expiresAt <= now) {
        this.#delete(pending, key)
      }
    }
    // re-insert so the map's order stays oldest-first
    this.#delete(pending, address)
    while (pending.size >= this.#maxPerSocket) {
      const oldest = pending.keys().next().value
      if (oldest === undefined) {
        break
      }
      this.#onLimit?.()
      this.#delete(pending, oldest)
    }
    // same format as createNonce() of @wsstar/protocol, without the JS base64 encoder
    const nonce = randomBytes(NONCE_BYTES).toString('base64url')
    const challenge: PendingChallenge = { nonce, publicKey, expiresAt: now + this.#ttlMs, parsed }
    if (namespaces != null) {
      challenge.namespaces = namespaces
    }
    pending.set(address, challenge)
    this.#size++
    return nonce
  }

  /** Whether socket + address has a nonce, live or expired. Takes nothing. */
  has (socketId: string, address: string): boolean {
    return this.#bySocket.get(socketId)?.has(address) ?? false
  }

  /** Removes and returns the live challenge for socket + address; undefined if none or expired. */
  take (socketId: string, address: string): PendingChallenge | undefined {
    const pending = this.#bySocket.get(socketId)
    const challenge = pending?.get(address)
    if (pending == null || challenge == null) {
      return undefined
    }
    this.#delete(pending, address)
    if (pending.size === 0) {
      this.#bySocket.delete(socketId)
    }
    return challenge.expiresAt > this.#now() ? challenge : undefined
  }

  clearSocket (socketId: string): void {
    const pending = this.#bySocket.get(socketId)
    if (pending != null) {
      this.#size -= pending.size
      this.#bySocket.delete(socketId)
    }
  }

  clear (): void {
    this.#bySocket.clear()
    this.#size = 0
  }

  #delete (pending: Map<string, PendingChallenge>, key: string): void {
    if (pending.delete(key)) {
      this.#size--
    }
  }
}
