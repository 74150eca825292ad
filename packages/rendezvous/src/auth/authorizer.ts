import { readFile } from 'node:fs/promises'
import { parseHandshakeToken } from '@wsstar/protocol'
import { LIMIT_NAMES } from '../limits.js'
import { parseAllowListFile } from './allow-list-file.js'
import { AuthHook } from './auth-hook.js'
import { AuthRefusal } from './auth-refusal.js'
import { AuthFileError, parseTokenFile } from './token-file.js'
import { TokenGrants } from './token-grants.js'
import { topRelayingTokens } from './top-relaying-tokens.js'
import { TokenBucket } from '../session/token-bucket.js'
import type { AuthRefusalReason } from './auth-refusal.js'
import type { TokenGrant } from './token-grants.js'
import type { RelayingToken } from './top-relaying-tokens.js'
import type { RendezvousMetrics } from '../metrics/metrics.js'
import type { RendezvousLimits, ResolvedAuth } from '../options.js'
import type { Session } from '../session/session.js'
import type { Logger } from 'pino'

export interface AuthorizerInit {
  auth: ResolvedAuth
  limits: RendezvousLimits
  metrics: RendezvousMetrics
  logger: Logger
}

/** Gives back the place a join took in its token's max-peers once it registered (or failed). */
export type ReleaseJoin = () => void

const NOTHING_TO_RELEASE: ReleaseJoin = () => {}

/**
 * Who may use a private server (docs/PRIVATE-SERVERS.md). At connect
 * (`admitSocket`): in token mode the handshake's bearer token, and on any
 * private server a legacy client unless allowed. At join (`admitJoin`,
 * once the peer id is verified and before it is registered): the token's
 * limits, the allow list, or the hook's answer. Refusals are AuthRefusal
 * (`ERR_UNAUTHORIZED`), counted by reason. `load` reads the files at
 * start, `reload` again (SIGHUP) and keeps what it had when they are bad.
 * Imports the file parsers, the token grants, the hook, the limits' names.
 */
export class Authorizer {
  readonly #init: AuthorizerInit
  readonly #tokens = new TokenGrants()
  #allowList: ReadonlySet<string> = new Set()
  readonly #hook?: AuthHook
  /** hook failures logged: a hook that is down fails every join */
  readonly #warnLines = new TokenBucket(1, 5)

  constructor (init: AuthorizerInit) {
    this.#init = init
    const { auth, limits, metrics, logger } = init
    if (auth.mode === 'hook' && auth.hookUrl != null) {
      this.#hook = new AuthHook({
        url: auth.hookUrl,
        timeoutMs: limits.authHookTimeoutMs,
        cacheTtlMs: limits.authHookCacheTtlMs,
        cacheSize: limits.authHookCacheSize,
        onVerdict: (verdict, cached) => { metrics.authHook(verdict, cached) },
        onTimeout: () => { metrics.limitHit(LIMIT_NAMES.authHookTimeoutMs) },
        onFailure: (reason) => {
          if (this.#warnLines.take()) {
            logger.warn({ hook: withoutSecrets(auth.hookUrl ?? '') }, `auth hook failed: ${reason}; ${auth.hookFailOpen ? 'admitting (fail open)' : 'refusing (fail closed)'}`)
          }
        }
      })
    }
  }

  get mode (): ResolvedAuth['mode'] {
    return this.#init.auth.mode
  }

  /** Not open: clients need credentials (a token, a listed peer id, the hook's yes). */
  get private (): boolean {
    return this.#init.auth.mode !== 'open'
  }

  /** Reads the mode's file at start; throws (AuthFileError, or the file's read error) when it is unusable. */
  async load (): Promise<void> {
    await this.#read()
    this.#init.logger.info(this.#summary(), `auth: ${this.mode}`)
    if (this.private && this.#init.auth.allowLegacy) {
      this.#init.logger.warn('legacy clients are admitted on this private server without credentials (allowLegacy)')
    }
  }

  /**
   * Reads the mode's file again (the CLI: SIGHUP). On a bad file it
   * rejects and keeps what it had: a typo must not lock everyone out.
   */
  async reload (): Promise<void> {
    try {
      await this.#read()
    } catch (err) {
      this.#init.metrics.authReload('failed')
      throw err
    }
    this.#init.metrics.authReload('ok')
    this.#init.logger.info(this.#summary(), 'auth files reloaded')
  }

  /**
   * At connect: the grant of the socket's token (token mode), undefined
   * when none is needed, or AuthRefusal. `handshakeAuth`: the socket.io
   * handshake's `auth`; `legacy`: an Engine.IO 3 (websocket-star 0.10) socket.
   */
  admitSocket (handshakeAuth: unknown, legacy: boolean): TokenGrant | undefined {
    if (!this.private) {
      return undefined
    }
    if (legacy) {
      if (this.#init.auth.allowLegacy) {
        return undefined
      }
      throw this.#refuse('legacy', 'this server is private: legacy websocket-star clients are not admitted')
    }
    if (this.mode !== 'token') {
      return undefined
    }
    let token: string | undefined
    try {
      token = parseHandshakeToken(handshakeAuth)
    } catch {
      throw this.#refuse('token-unknown', 'this server is private: the token is not valid here')
    }
    if (token == null) {
      throw this.#refuse('token-missing', 'this server is private: present a token (handshake auth.token)')
    }
    const grant = this.#tokens.find(token)
    if (grant == null) {
      throw this.#refuse('token-unknown', 'this server is private: the token is not valid here')
    }
    return grant
  }

  /**
   * At join, for a peer id the socket does not hold yet, or holds in other
   * namespaces (verified, unless the challenge is off): resolves once it
   * may be registered, with what
   * gives back its place in the token's max-peers (call it once the
   * registration is made or failed), or rejects with AuthRefusal.
   * `namespaces`: those the join names (none: the default namespace).
   */
  async admitJoin (session: Session, peerId: string, remoteAddress: string, namespaces: readonly string[] = []): Promise<ReleaseJoin> {
    switch (this.mode) {
      case 'token':
        return this.#admitTokenJoin(session.grant, namespaces, session.addresses.has(peerId))
      case 'allow-list':
        if (!this.#allowList.has(peerId)) {
          throw this.#refuse('allow-list', 'this server is private: this peer id is not on its allow list')
        }
        return NOTHING_TO_RELEASE
      case 'hook':
        await this.#askHook(peerId, remoteAddress, namespaces)
        return NOTHING_TO_RELEASE
      default:
        return NOTHING_TO_RELEASE
    }
  }

  /** `holds`: the socket holds the peer id already (a re-join that moves it to other namespaces), no new registration */
  #admitTokenJoin (grant: TokenGrant | undefined, namespaces: readonly string[], holds: boolean): ReleaseJoin {
    if (grant == null) {
      // a socket admitted before the server went private cannot be: token mode is set at start
      throw this.#refuse('token-missing', 'this server is private: present a token (handshake auth.token)')
    }
    const allowed = grant.namespaces
    // a token that lists namespaces confines its peers to them: not the
    // default namespace either, where they would see and be seen by the rest
    if (allowed != null && (namespaces.length === 0 || namespaces.some(ns => !allowed.has(ns)))) {
      throw this.#refuse('token-namespace', namespaces.length === 0
        ? 'this token allows joining only its namespaces: name one'
        : 'this token does not allow joining that namespace')
    }
    if (holds) {
      return NOTHING_TO_RELEASE
    }
    if (grant.maxPeers != null && grant.registrations + grant.joining >= grant.maxPeers) {
      throw this.#refuse('token-max-peers', `this token's peers are at their limit (${grant.maxPeers}) on this server`)
    }
    grant.joining++
    let released = false
    return () => {
      if (!released) {
        released = true
        grant.joining--
      }
    }
  }

  async #askHook (peerId: string, remoteAddress: string, namespaces: readonly string[]): Promise<void> {
    const hook = this.#hook
    if (hook == null) {
      return
    }
    const verdict = await hook.ask({ peerId, namespaces: [...namespaces], remoteAddress })
    if (verdict === 'denied') {
      throw this.#refuse('hook-denied', 'this server is private: its authorization hook refused this peer')
    }
    if (verdict === 'failed' && !this.#init.auth.hookFailOpen) {
      throw this.#refuse('hook-failed', 'this server is private and could not ask its authorization hook; try again later')
    }
  }

  /** Token mode: the tokens whose sockets relayed the most (`/status.json` `topRelayingTokens`); undefined in the other modes. */
  topRelayingTokens (): RelayingToken[] | undefined {
    return this.mode === 'token' ? topRelayingTokens(this.#tokens.grants()) : undefined
  }

  async #read (): Promise<void> {
    const { auth } = this.#init
    if (auth.mode === 'token' && auth.tokensFile != null) {
      this.#tokens.replace(parseTokenFile(await readAuthFile(auth.tokensFile), auth.tokensFile))
    } else if (auth.mode === 'allow-list' && auth.allowListFile != null) {
      this.#allowList = parseAllowListFile(await readAuthFile(auth.allowListFile), auth.allowListFile)
    }
  }

  #summary (): Record<string, unknown> {
    const { auth } = this.#init
    switch (auth.mode) {
      case 'token': return { file: auth.tokensFile, tokens: this.#tokens.size }
      case 'allow-list': return { file: auth.allowListFile, peers: this.#allowList.size }
      case 'hook': return { hook: withoutSecrets(auth.hookUrl ?? ''), failOpen: auth.hookFailOpen }
      default: return {}
    }
  }

  #refuse (reason: AuthRefusalReason, message: string): AuthRefusal {
    this.#init.metrics.authRefused(reason)
    return new AuthRefusal(reason, message)
  }
}

/** A file of the auth mode; a read error names the file (not found, no permission). */
async function readAuthFile (path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8')
  } catch (err) {
    throw new AuthFileError(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
}

/** The hook URL for the log: its query may hold a secret the hook checks. */
function withoutSecrets (url: string): string {
  try {
    const parsed = new URL(url)
    return `${parsed.origin}${parsed.pathname}`
  } catch {
    return '(unparsable URL)'
  }
}
