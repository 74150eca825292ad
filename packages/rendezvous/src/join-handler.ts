import { verify as nodeVerify } from 'node:crypto'
import { ErrorCode, WsStarError, joinPayload, parseJoinRequest, parseLeaveRequest, publicKeyForPeer, sameServer, verifyJoin } from '@wsstar/protocol'
import { LIMIT_NAMES } from './options.js'
import type { JoinChallengeStore } from './join-challenge-store.js'
import type { Membership } from './membership.js'
import type { RendezvousMetrics } from './metrics.js'
import type { Session } from './session.js'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { PublicKey } from '@libp2p/interface'
import type { JoinChallenge, JoinResult, WebSocketStarAddress } from '@wsstar/protocol'

/** DER SubjectPublicKeyInfo header of an Ed25519 key (RFC 8410); the 32 raw key bytes follow. */
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/

/**
 * Verifies a join signature. Ed25519 (what libp2p peers use) goes straight
 * to node:crypto with a DER key: @libp2p/crypto would import the key from a
 * JWK first and decode base64 in JS, which costs about as much again as the
 * verification itself. Other key types take the generic path.
 */
async function verifySignature (publicKey: PublicKey, address: string, nonce: string, signatureBase64: string): Promise<boolean> {
  if (publicKey.type !== 'Ed25519' || publicKey.raw.byteLength !== 32) {
    return verifyJoin(publicKey, address, nonce, signatureBase64)
  }
  if (!BASE64.test(signatureBase64)) {
    return false
  }
  const signature = Buffer.from(signatureBase64, 'base64')
  if (signature.byteLength !== 64) {
    return false
  }
  try {
    const key = Buffer.concat([ED25519_SPKI_PREFIX, publicKey.raw], 44)
    return nodeVerify(null, joinPayload(address, nonce), { key, format: 'der', type: 'spki' }, signature)
  } catch {
    return false
  }
}

export interface JoinHandlerInit {
  /** require the signature step */
  challenge: boolean
  challenges: JoinChallengeStore
  membership: Membership
  /** this server's public addresses; empty: any server part is accepted */
  announce: Multiaddr[]
  metrics: RendezvousMetrics
  isShuttingDown(): boolean
}

/**
 * `ss-join` and `ss-leave`. A join is two requests: the hello (address and,
 * for RSA ids, the public key) gets a nonce bound to this socket and this
 * address string; the proof (signature over the domain-separated payload)
 * takes the nonce out, is verified and registers the peer.
 */
export class JoinHandler {
  readonly #init: JoinHandlerInit

  constructor (init: JoinHandlerInit) {
    this.#init = init
  }

  async join (session: Session, address: unknown, data: unknown): Promise<JoinChallenge | JoinResult> {
    try {
      const result = await this.#join(session, address, data)
      this.#init.metrics.join('nonce' in result ? 'challenged' : 'ok')
      return result
    } catch (err) {
      this.#init.metrics.join(err instanceof WsStarError ? err.code : ErrorCode.BAD_REQUEST)
      throw err
    }
  }

  async leave (session: Session, address: unknown): Promise<void> {
    const parsed = parseLeaveRequest(address)
    if (!await this.#init.membership.unregister(session, parsed.peerId.toString())) {
      throw new WsStarError(ErrorCode.NOT_REGISTERED, 'this socket has not joined with that address')
    }
  }

  async #join (session: Session, address: unknown, data: unknown): Promise<JoinChallenge | JoinResult> {
    this.#checkRunning()
    const request = parseJoinRequest(address, data)
    // parseJoinRequest checked it is a string: the exact string is what gets signed
    const sent = address as string
    this.#checkServer(request.address)
    if (request.step.kind === 'hello') {
      if (!session.joinBucket.take()) {
        this.#init.metrics.limitHit(LIMIT_NAMES.joinRate)
        throw new WsStarError(ErrorCode.RATE_LIMITED, 'too many join requests; slow down')
      }
      const publicKey = publicKeyForPeer(request.address.peerId, request.step.publicKey)
      if (!this.#init.challenge) {
        return await this.#init.membership.register(session, request.address)
      }
      return { nonce: this.#init.challenges.issue(session.id, sent, publicKey) }
    }
    const pending = this.#init.challenges.take(session.id, sent)
    if (pending == null) {
      throw new WsStarError(ErrorCode.CHALLENGE_EXPIRED, 'no live nonce for this socket and address: expired, used or never issued')
    }
    if (!await verifySignature(pending.publicKey, sent, pending.nonce, request.step.signature)) {
      throw new WsStarError(ErrorCode.INVALID_SIGNATURE, 'the join signature does not verify')
    }
    this.#checkRunning()
    if (!session.connected) {
      throw new WsStarError(ErrorCode.PEER_GONE, 'the socket disconnected during the join')
    }
    return await this.#init.membership.register(session, request.address)
  }

  #checkRunning (): void {
    if (this.#init.isShuttingDown()) {
      throw new WsStarError(ErrorCode.SHUTTING_DOWN, 'the server is shutting down')
    }
  }

  #checkServer (parsed: WebSocketStarAddress): void {
    const announce = this.#init.announce
    if (announce.length > 0 && !announce.some(server => sameServer(server, parsed.server))) {
      throw new WsStarError(ErrorCode.INVALID_ADDRESS, `the address names another server; this one is ${announce.map(a => a.toString()).join(', ')}`)
    }
  }
}
