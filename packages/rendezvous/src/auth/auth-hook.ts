import { LRUCache } from 'lru-cache'

/**
 * Hook mode: the operator's HTTP(S) endpoint decides who may register.
 * The server POSTs `{ peerId, namespaces, remoteAddress }` as JSON; a 2xx
 * answer with the JSON body `{ "allow": true }` admits, `{ "allow": false }`
 * or a 403 refuses. Both are cached for `cacheTtlMs` (at most `cacheSize`
 * entries, least recently used out first). Anything else (another status,
 * another body, no answer within `timeoutMs`, no connection) is a failure,
 * not cached: the authorizer fails closed or open on it. Concurrent
 * questions about the same join share one request. Uses Node's fetch.
 */

/** What the hook is asked: the body of the POST. */
export interface AuthHookRequest {
  /** the peer id the join verified */
  peerId: string
  /** the namespaces the join names; empty: the default namespace */
  namespaces: string[]
  /** the client's address (`X-Forwarded-For` through `trustedProxies`) */
  remoteAddress: string
}

export type AuthHookVerdict = 'allowed' | 'denied' | 'failed'

export interface AuthHookInit {
  url: string
  /** an answer later than this is a failure (`auth-hook-timeout`) */
  timeoutMs: number
  /** how long allow and deny answers are reused; 0: never (`auth-hook-cache-ttl`) */
  cacheTtlMs: number
  /** answers kept at most (`auth-hook-cache-size`) */
  cacheSize: number
  /** each question: its verdict, and whether the cache answered it */
  onVerdict?: (verdict: AuthHookVerdict, cached: boolean) => void
  /** the hook did not answer within timeoutMs */
  onTimeout?: () => void
  /** why a request failed (logged by the caller) */
  onFailure?: (reason: string) => void
}

/** Longest answer body read from the hook: `{ "allow": true }` is 15 bytes. */
const MAX_ANSWER_BYTES = 4096

export class AuthHook {
  readonly #init: AuthHookInit
  readonly #cache?: LRUCache<string, boolean>
  readonly #asking = new Map<string, Promise<AuthHookVerdict>>()

  constructor (init: AuthHookInit) {
    this.#init = init
    if (init.cacheTtlMs > 0) {
      this.#cache = new LRUCache<string, boolean>({ max: init.cacheSize, ttl: init.cacheTtlMs })
    }
  }

  /** cached answers now */
  get cached (): number {
    return this.#cache?.size ?? 0
  }

  async ask (request: AuthHookRequest): Promise<AuthHookVerdict> {
    const key = `${request.peerId}\n${request.namespaces.join(',')}\n${request.remoteAddress}`
    const cached = this.#cache?.get(key)
    if (cached != null) {
      const verdict = cached ? 'allowed' : 'denied'
      this.#init.onVerdict?.(verdict, true)
      return verdict
    }
    let asking = this.#asking.get(key)
    if (asking == null) {
      asking = this.#post(request).then(verdict => {
        if (verdict !== 'failed') {
          this.#cache?.set(key, verdict === 'allowed')
        }
        this.#init.onVerdict?.(verdict, false)
        return verdict
      }).finally(() => { this.#asking.delete(key) })
      this.#asking.set(key, asking)
    }
    return await asking
  }

  async #post (request: AuthHookRequest): Promise<AuthHookVerdict> {
    const { url, timeoutMs } = this.#init
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify(request),
        redirect: 'error',
        signal: AbortSignal.timeout(timeoutMs)
      })
      if (res.status === 403) {
        await res.body?.cancel()
        return 'denied'
      }
      if (res.status < 200 || res.status > 299) {
        await res.body?.cancel()
        return this.#failed(`the hook answered HTTP ${res.status}`)
      }
      const text = await res.text()
      let allow: unknown
      try {
        allow = text.length > MAX_ANSWER_BYTES ? undefined : (JSON.parse(text) as { allow?: unknown } | null)?.allow
      } catch {
        allow = undefined
      }
      if (typeof allow !== 'boolean') {
        return this.#failed('the hook\'s answer is not JSON with a boolean "allow"')
      }
      return allow ? 'allowed' : 'denied'
    } catch (err) {
      if ((err as Error).name === 'TimeoutError') {
        this.#init.onTimeout?.()
        return this.#failed(`no answer from the hook within ${timeoutMs} ms`)
      }
      return this.#failed(`cannot reach the hook: ${(err as Error).message}`)
    }
  }

  #failed (reason: string): AuthHookVerdict {
    this.#init.onFailure?.(reason)
    return 'failed'
  }
}
