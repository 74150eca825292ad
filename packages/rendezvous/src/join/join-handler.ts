import { ErrorCode, WsStarError, parseJoinRequest, parseJoinStep, parseLeaveRequest, publicKeyForPeer } from '@wsstar/protocol'
import { verifyJoinSignature } from './join-signature.js'
import type { Ed25519Verifier, KeyVerifier } from './join-signature.js'
import { LIMIT_NAMES } from '../limits.js'
import { registeredAddress } from './server-addresses.js'
import { sameNamespaces } from '../discovery/peer-registry.js'
import { upgradeHost } from '../session/upgrade-request.js'
import type { JoinChallengeStore, PendingChallenge } from './join-challenge-store.js'
import type { JoinServerRule } from './join-server-rule.js'
import type { Membership } from './membership.js'
import type { RendezvousMetrics } from '../metrics/metrics.js'
import type { Session } from '../session/session.js'
import type { ShutdownGuard } from '../shutdown-guard.js'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { JoinChallenge, JoinResult, NamespaceBounds, WebSocketStarAddress } from '@wsstar/protocol'

export interface JoinHandlerInit {
  /** require the signature step */
  challenge: boolean
  challenges: JoinChallengeStore
  membership: Membership
  /** this server's public addresses (`--announce`), the spelling registered for them */
  announce: Multiaddr[]
  /** which server a join may name: the announced ones, else the one the socket connected to */
  servers: JoinServerRule
  /** longest address string a join may register (`max-address-length`) */
  maxAddressLength: number
  metrics: RendezvousMetrics
  /** refuses joins once the server is stopping, before and after verification */
  shutdown: ShutdownGuard
  /** Ed25519 verification (a worker pool's); default: on this thread */
  verify?: Ed25519Verifier
  /** RSA and secp256k1 verification (a worker pool's); default: on this thread */
  verifyKey?: KeyVerifier
  /** join signatures verified at once, server-wide (`max-pending-verifications`) */
  maxPendingVerifications: number
  /** takes a join token of the session's client address (`join-rate-per-ip`); false: none left */
  takeIpJoin?: (session: Session) => boolean
  /**
   * a private server: may `session` register `peerId` (verified) in
   * `namespaces` (undefined: the default namespace), which it does not hold
   * yet or holds in other namespaces? Resolves what to call once the
   * registration is made or failed; rejects with ERR_UNAUTHORIZED
   * (auth/authorizer.ts)
   */
  authorize?: (session: Session, peerId: string, namespaces: readonly string[] | undefined) => Promise<() => void>
  /** `max-namespaces`, `max-namespace-length`, and what counts their hits */
  namespaceBounds: NamespaceBounds
}

/**
 * `ss-join` and `ss-leave`. A two-step join is two requests: the hello
 * (address and, for RSA ids, the public key) gets a nonce bound to this
 * socket and this address string; the proof (signature over the
 * domain-separated payload) takes the nonce out, is verified and registers
 * the peer. The one-round-trip join signs the socket id instead of a nonce,
 * once per socket and peer id. Either names this server in its address
 * (`JoinServerRule`).
 */
export class JoinHandler {
  readonly #init: JoinHandlerInit
  /** the same bounds, for the parses that only look at the data (its limit hits are counted once, by the parse that answers) */
  readonly #peekBounds: NamespaceBounds
  /** signatures being verified now */
  #verifying = 0

  constructor (init: JoinHandlerInit) {
    this.#init = init
    this.#peekBounds = { maxNamespaces: init.namespaceBounds.maxNamespaces, maxNamespaceLength: init.namespaceBounds.maxNamespaceLength }
  }

  async join (session: Session, address: unknown, data: unknown): Promise<JoinChallenge | JoinResult> {
    const started = performance.now()
    try {
      const result = await this.#join(session, address, data)
      if ('nonce' in result) {
        this.#init.metrics.join('challenged')
      } else {
        this.#init.metrics.join('ok', (performance.now() - started) / 1000)
      }
      return result
    } catch (err) {
      this.#init.metrics.join(err instanceof WsStarError ? err.code : ErrorCode.BAD_REQUEST)
      throw err
    }
  }

  async leave (session: Session, address: unknown): Promise<void> {
    const parsed = parseLeaveRequest(address)
    if (session.addresses.has(parsed.peerId.toString())) {
      this.#checkChurn(session)
      session.churnBucket.charge()
    }
    if (!await this.#init.membership.unregister(session, parsed.peerId.toString())) {
      throw new WsStarError(ErrorCode.NOT_REGISTERED, 'this socket has not joined with that address')
    }
  }

  async #join (session: Session, address: unknown, data: unknown): Promise<JoinChallenge | JoinResult> {
    this.#init.shutdown.check()
    const proof = this.#takeProof(session, address, data)
    // #takeProof checked the verification budget before it took the nonce
    if (proof != null) {
      checkProofNamespaces(proof.step.namespaces, proof.pending.namespaces)
      return await this.#verifyAndRegister(session, address as string, proof.pending, proof.step.signature)
    }
    // a hello and a one-request join each start a join: both count against the
    // join rates, before the address is parsed (a secp256k1 peer id costs a
    // curve point decompression on this thread)
    if (startsJoin(data, this.#peekBounds)) {
      this.#takeJoinTokens(session)
    }
    const request = parseJoinRequest(address, data, this.#init.namespaceBounds)
    // parseJoinRequest checked it is a string: the exact string is what gets signed
    const sent = address as string
    this.#checkLength(sent)
    this.#checkServer(session, request.address)
    // what gets registered and broadcast: this server's address + the peer id, nothing else sent
    const registered = registeredAddress(request.address, this.#init.announce)
    const step = request.step
    if (step.kind === 'proof') {
      this.#checkVerificationBudget()
      const pending = this.#init.challenges.take(session.id, sent)
      if (pending == null) {
        throw new WsStarError(ErrorCode.CHALLENGE_EXPIRED, 'no live nonce for this socket and address: expired, used or never issued')
      }
      checkProofNamespaces(step.namespaces, pending.namespaces)
      return await this.#verifyAndRegister(session, sent, pending, step.signature)
    }
    if (step.kind === 'socket-proof') {
      if (step.sid !== session.id) {
        throw new WsStarError(ErrorCode.CHALLENGE_EXPIRED, 'the join is signed for another socket id (a reconnect changes it); sign this socket\'s id or use the two-step join')
      }
      // once verified, never again on this socket: a captured one cannot be
      // replayed on it after its owner joined again elsewhere
      if (session.madeOneRequestJoin(request.address.peerId.toString())) {
        throw new WsStarError(ErrorCode.CHALLENGE_EXPIRED, 'this socket already made its one-request join for this peer id; use the two-step join')
      }
    }
    // a join that would register a new address for this socket is broadcast: it is
    // admitted while the socket has a churn token, and pays for it once it registers
    if (!session.addresses.has(request.address.peerId.toString())) {
      this.#checkChurn(session)
    }
    const publicKey = publicKeyForPeer(request.address.peerId, step.publicKey)
    if (!this.#init.challenge) {
      return await this.#register(session, registered, step.namespaces)
    }
    if (step.kind === 'hello') {
      return { nonce: this.#init.challenges.issue(session.id, sent, publicKey, registered, step.namespaces) }
    }
    // one request: the nonce is this socket's id, which the server chose at
    // random and sent in its CONNECT packet, so the client signed it up front
    this.#checkVerificationBudget()
    return await this.#verifyAndRegister(session, sent, { parsed: registered, publicKey, nonce: session.id, namespaces: step.namespaces }, step.signature, () => {
      session.addOneRequestJoin(registered.peerId.toString())
    })
  }

  /**
   * Step 2 without a second parse of the address: a well-formed proof whose
   * exact address string has a live nonce on this socket takes that nonce
   * and reuses what step 1 parsed (and checked against the announce list)
   * from the same string. Anything else (no nonce, malformed data) returns
   * undefined and goes through the full parse, so errors keep their codes.
   */
  #takeProof (session: Session, address: unknown, data: unknown): { step: { signature: string, namespaces?: readonly string[] }, pending: PendingChallenge } | undefined {
    if (typeof address !== 'string' || data == null) {
      return undefined
    }
    let step
    try {
      step = parseJoinStep(data, this.#peekBounds)
    } catch {
      return undefined
    }
    if (step.kind !== 'proof' || !this.#init.challenges.has(session.id, address)) {
      return undefined
    }
    // before the nonce is taken: a rate-limited proof can be sent again
    this.#checkVerificationBudget()
    const pending = this.#init.challenges.take(session.id, address)
    if (pending == null) {
      throw new WsStarError(ErrorCode.CHALLENGE_EXPIRED, 'no live nonce for this socket and address: expired, used or never issued')
    }
    return { step, pending }
  }

  /** Callers check the verification budget in the same turn (`#checkVerificationBudget`). */
  async #verifyAndRegister (session: Session, sent: string, challenge: Pick<PendingChallenge, 'parsed' | 'publicKey' | 'nonce' | 'namespaces'>, signature: string, onVerified?: () => void): Promise<JoinResult> {
    this.#verifying++
    let valid: boolean
    try {
      valid = await verifyJoinSignature(challenge.publicKey, sent, challenge.nonce, signature, this.#init.verify, this.#init.verifyKey)
    } finally {
      this.#verifying--
    }
    if (!valid) {
      throw new WsStarError(ErrorCode.INVALID_SIGNATURE, 'the join signature does not verify')
    }
    onVerified?.()
    this.#init.shutdown.check()
    if (!session.connected) {
      throw new WsStarError(ErrorCode.PEER_GONE, 'the socket disconnected during the join')
    }
    const result = await this.#register(session, challenge.parsed, challenge.namespaces)
    result.verified = true
    return result
  }

  /**
   * A new address for this socket is broadcast to every peer: it costs a
   * churn token. On a private server it is authorized first, and so is a
   * re-join that names other namespaces (a token may allow only some).
   */
  async #register (session: Session, address: WebSocketStarAddress, namespaces: readonly string[] | undefined): Promise<JoinResult> {
    const peerId = address.peerId.toString()
    const isNew = !session.addresses.has(peerId)
    const authorize = this.#init.authorize
    const registered = authorize != null && (isNew || !sameNamespaces(session.namespacesOf(peerId), namespaces)) ? await authorize(session, peerId, namespaces) : undefined
    try {
      const result = await this.#init.membership.register(session, address, namespaces)
      if (isNew) {
        session.churnBucket.charge()
      }
      return result
    } finally {
      registered?.()
    }
  }

  /** The socket's join token, then its client address's (`join-rate`, `join-rate-per-ip`). */
  #takeJoinTokens (session: Session): void {
    if (!session.joinBucket.take()) {
      this.#init.metrics.limitHit(LIMIT_NAMES.joinRate)
      throw new WsStarError(ErrorCode.RATE_LIMITED, 'too many join requests; slow down')
    }
    if (this.#init.takeIpJoin?.(session) === false) {
      this.#init.metrics.limitHit(LIMIT_NAMES.joinRatePerIp)
      throw new WsStarError(ErrorCode.RATE_LIMITED, 'too many join requests from this address; slow down')
    }
  }

  /** Registrations and leaves of one socket, each broadcast to every peer (`churn-rate`). */
  #checkChurn (session: Session): void {
    if (session.churnBucket.tokens < 1) {
      this.#init.metrics.limitHit(LIMIT_NAMES.churnRate)
      throw new WsStarError(ErrorCode.RATE_LIMITED, 'too many registrations and leaves on this socket; slow down')
    }
  }

  /** Server-wide: a flood of joins queues a bounded amount of verification work. */
  #checkVerificationBudget (): void {
    if (this.#verifying >= this.#init.maxPendingVerifications) {
      this.#init.metrics.limitHit(LIMIT_NAMES.maxPendingVerifications)
      throw new WsStarError(ErrorCode.RATE_LIMITED, 'the server is verifying too many joins; try again shortly')
    }
  }

  /** join signatures being verified now */
  get verifying (): number {
    return this.#verifying
  }

  #checkLength (sent: string): void {
    if (sent.length > this.#init.maxAddressLength) {
      this.#init.metrics.limitHit(LIMIT_NAMES.maxAddressLength)
      throw new WsStarError(ErrorCode.INVALID_ADDRESS, `the address is longer than this server's limit of ${this.#init.maxAddressLength} characters`)
    }
  }

  #checkServer (session: Session, parsed: WebSocketStarAddress): void {
    const refusal = this.#init.servers.refusal(parsed.server, upgradeHost(session.socket.conn))
    if (refusal != null) {
      throw new WsStarError(ErrorCode.INVALID_ADDRESS, refusal)
    }
  }
}

/** A well-formed hello or one-request join (not a proof): what the join rates count. */
function startsJoin (data: unknown, bounds: NamespaceBounds): boolean {
  try {
    return parseJoinStep(data, bounds).kind !== 'proof'
  } catch {
    return false
  }
}

/**
 * A proof registers the namespaces its hello named (kept with the nonce); a
 * proof may repeat them, in any order, but not name others: the nonce is
 * spent and the join must start again.
 */
function checkProofNamespaces (sent: readonly string[] | undefined, hello: readonly string[] | undefined): void {
  if (sent == null) {
    return
  }
  if (hello == null || sent.length !== hello.length || sent.some(name => !hello.includes(name))) {
    throw new WsStarError(ErrorCode.BAD_REQUEST, 'a join proof\'s namespaces must be those of its hello (or be left out)')
  }
}
