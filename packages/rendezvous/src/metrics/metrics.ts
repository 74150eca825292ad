import { readdir } from 'node:fs/promises'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import { BUILD_INFO } from '../runtime/build-info.js'
import type { PowerOfTwoSizeHistogram } from './size-histogram.js'
import type { ErrorCode } from '@wsstar/protocol'
import type { Metric } from 'prom-client'

/** Live numbers the metrics read at scrape time (hot paths only bump plain fields). */
export interface MetricsSource {
  sockets(): number
  peers(): number
  dialsOpen(): number
  dialsPending(): number
  pendingChallenges(): number
  /** bytes in flight over all dials (forwarded, not yet credited) */
  inFlightBytes(): number
  /** the most bytes ever in flight in one direction of one dial */
  maxDialInFlight(): number
  relayedBytes(): number
  frames(): { d: number, c: number, e: number }
  /** data frames that waited on the server for their share of a receiver */
  sharedFrames(): number
  /**
   * join signature verification: backend, batches sent to threads, threads
   * replaced after dying, signatures verified by key type and thread,
   * verifications in progress
   */
  verifier(): { backend: string, batches: number, restarts: number, verified: Record<string, Record<'worker' | 'server', number>>, pending: number }
  /** V8's memory-saving mode asked for when quiet (memory-reclaim.ts) */
  memoryReclaim(): { reclaims: number, reclaimedBytes: number, pauseSeconds: number }
  /** client addresses the per-IP limits track */
  clientIps(): number
  /** payload sizes of the relayed data frames, counted by the relay */
  frameSizes(): PowerOfTwoSizeHistogram
  /** named namespaces with a registration on this server, and the largest (`namespace-metrics-top` of them) with their registrations */
  namespaces(): { count: number, top: Array<[string, number]> }
}

export type JoinResultLabel = 'ok' | 'challenged' | ErrorCode
export type DialResultLabel = 'ok' | ErrorCode

/** prom-client default metrics whose collection is O(open sockets) and synchronous */
const O_N_DEFAULT_METRICS = [
  'process_open_fds',
  'nodejs_active_handles',
  'nodejs_active_handles_total',
  'nodejs_active_resources',
  'nodejs_active_resources_total'
]

/** a gauge whose name ends in _total, which Prometheus tooling takes for a counter; nodejs_active_requests has the same by type */
const MISNAMED_DEFAULT_METRICS = ['nodejs_active_requests_total']

/** request durations, seconds: a join that verifies on an idle thread takes about a millisecond */
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

/**
 * Prometheus metrics of one server, on a Registry of its own (several
 * servers can run in one process). Per-frame counters are plain numbers in
 * the relay, copied into prom-client at scrape time, so relaying a frame
 * costs no metric bookkeeping.
 */
export class RendezvousMetrics {
  readonly registry: Registry
  readonly #joins: Counter<'result'>
  readonly #dials: Counter<'result'>
  readonly #rejected: Counter<'code'>
  readonly #limitHits: Counter<'limit'>
  readonly #authRefusals: Counter<'reason'>
  readonly #authHook: Counter<'result'>
  readonly #authHookCacheHits: Counter
  readonly #authReloads: Counter<'result'>
  readonly #joinDuration: Histogram
  readonly #dialSetup: Histogram

  /** @param limits the configured limits by name (the `wsstar_limit` gauge) */
  constructor (limits: Record<string, number>) {
    const registry = new Registry()
    this.registry = registry
    const registers = [registry]

    collectDefaultMetrics({ register: registry })
    // these walk every handle / every open fd synchronously on each scrape: ~70 ms of blocked
    // event loop at 10,000 sockets, which every relayed byte and dial then waits out.
    // wsstar_sockets counts what matters here, at no cost.
    for (const name of [...O_N_DEFAULT_METRICS, ...MISNAMED_DEFAULT_METRICS]) registry.removeSingleMetric(name)
    // open fds back, read off the event loop: readdir runs on libuv's thread pool
    if (process.platform === 'linux') {
      new Gauge({
        name: 'process_open_fds',
        help: 'Number of open file descriptors.',
        registers,
        async collect () {
          try {
            // minus the descriptor readdir itself holds open
            this.set((await readdir('/proc/self/fd')).length - 1)
          } catch {
            // /proc not mounted (a sandbox): the gauge stays unset
          }
        }
      })
    }
    new Gauge({
      name: 'wsstar_build_info',
      help: 'What this server is: its version, the wire protocol, the Node.js running it (always 1)',
      labelNames: ['version', 'protocol', 'node'],
      registers
    }).set({ version: BUILD_INFO.version, protocol: BUILD_INFO.protocol, node: BUILD_INFO.node }, 1)

    this.#joinDuration = new Histogram({
      name: 'wsstar_join_duration_seconds',
      help: 'Time from a join request to its answer, for joins that registered (signature verification included)',
      buckets: DURATION_BUCKETS,
      registers
    })
    this.#dialSetup = new Histogram({
      name: 'wsstar_dial_setup_seconds',
      help: 'Time from a dial request to its answer, for dials the callee accepted',
      buckets: DURATION_BUCKETS,
      registers
    })
    const limitGauge = new Gauge({ name: 'wsstar_limit', help: 'Configured limits, by name', labelNames: ['limit'], registers })
    for (const [name, value] of Object.entries(limits)) {
      limitGauge.set({ limit: name }, value)
    }
    this.#joins = new Counter({ name: 'wsstar_joins_total', help: 'Join requests by result (challenged: step 1 answered with a nonce)', labelNames: ['result'], registers })
    this.#dials = new Counter({ name: 'wsstar_dials_total', help: 'Dial requests by result', labelNames: ['result'], registers })
    this.#rejected = new Counter({ name: 'wsstar_rejected_total', help: 'Rejected inputs by error code', labelNames: ['code'], registers })
    this.#limitHits = new Counter({ name: 'wsstar_limit_hits_total', help: 'Times a limit was hit, by limit', labelNames: ['limit'], registers })
    this.#authRefusals = new Counter({ name: 'wsstar_auth_refusals_total', help: 'Sockets and joins a private server refused with ERR_UNAUTHORIZED, by reason', labelNames: ['reason'], registers })
    this.#authHook = new Counter({ name: 'wsstar_auth_hook_requests_total', help: 'Requests to the authorization hook (auth mode hook), by result: allowed, denied, failed', labelNames: ['result'], registers })
    this.#authHookCacheHits = new Counter({ name: 'wsstar_auth_hook_cache_hits_total', help: 'Joins the authorization hook\'s cached answers decided without a request', registers })
    this.#authReloads = new Counter({ name: 'wsstar_auth_reloads_total', help: 'Reloads of the token file or allow list (SIGHUP), by result: ok, failed (the previous ones stay)', labelNames: ['result'], registers })
  }

  /**
   * The gauges and counters read from the server's parts at scrape time:
   * given once those parts exist (they count limit hits here from their
   * first call, so this object comes first).
   */
  observe (source: MetricsSource): void {
    const registers = [this.registry]
    new Gauge({ name: 'wsstar_sockets', help: 'Connected sockets', registers, collect () { this.set(source.sockets()) } })
    new Gauge({ name: 'wsstar_peers', help: 'Registered peers on this server', registers, collect () { this.set(source.peers()) } })
    new Gauge({
      name: 'wsstar_dials_active',
      help: 'Dials by state (pending: waiting for the callee; open: relaying)',
      labelNames: ['state'],
      registers,
      collect () {
        this.set({ state: 'pending' }, source.dialsPending())
        this.set({ state: 'open' }, source.dialsOpen())
      }
    })
    new Gauge({ name: 'wsstar_namespaces', help: 'Named namespaces with at least one peer registered on this server', registers, collect () { this.set(source.namespaces().count) } })
    new Gauge({
      name: 'wsstar_namespace_peers',
      help: 'Peers registered on this server per namespace, for the namespaces with the most only (namespace-metrics-top)',
      labelNames: ['namespace'],
      registers,
      collect () {
        // a namespace that left the top loses its label
        this.reset()
        for (const [namespace, peers] of source.namespaces().top) {
          this.set({ namespace }, peers)
        }
      }
    })
    new Gauge({ name: 'wsstar_client_ips', help: 'Client addresses tracked by the per-IP limits (with connections, or a join bucket still refilling)', registers, collect () { this.set(source.clientIps()) } })
    new Gauge({ name: 'wsstar_join_challenges_pending', help: 'Join nonces issued and not yet used', registers, collect () { this.set(source.pendingChallenges()) } })
    new Gauge({ name: 'wsstar_verify_backend_info', help: 'Ed25519 backend verifying join signatures (libsodium or node:crypto)', labelNames: ['backend'], registers, collect () { this.reset(); this.set({ backend: source.verifier().backend }, 1) } })
    new Counter({ name: 'wsstar_verify_batches_total', help: 'Batches of join signatures sent to the verification threads', registers, collect () { this.reset(); this.inc(source.verifier().batches) } })
    new Counter({
      name: 'wsstar_signatures_verified_total',
      help: 'Join signatures verified, by key type and thread (worker: a verification thread; server: the event loop, with --verify-threads 0 or after a thread died)',
      labelNames: ['key', 'thread'],
      registers,
      collect () {
        this.reset()
        for (const [key, counts] of Object.entries(source.verifier().verified)) {
          this.inc({ key, thread: 'worker' }, counts.worker)
          this.inc({ key, thread: 'server' }, counts.server)
        }
      }
    })
    new Gauge({ name: 'wsstar_verifications_pending', help: 'Join signatures being verified now (bounded by max-pending-verifications)', registers, collect () { this.set(source.verifier().pending) } })
    new Counter({ name: 'wsstar_verify_thread_restarts_total', help: 'Verification threads that died and were replaced (their signatures were verified on the server thread)', registers, collect () { this.reset(); this.inc(source.verifier().restarts) } })
    new Gauge({ name: 'wsstar_dial_inflight_bytes', help: 'Bytes forwarded over all dials and not yet credited back by the receivers', registers, collect () { this.set(source.inFlightBytes()) } })
    new Gauge({ name: 'wsstar_dial_inflight_max_bytes', help: 'Most bytes ever in flight in one direction of one dial (bounded by the window)', registers, collect () { this.set(source.maxDialInFlight()) } })
    new Counter({
      name: 'wsstar_relayed_bytes_total',
      help: 'Payload bytes relayed in data frames',
      registers,
      collect () {
        this.reset()
        this.inc(source.relayedBytes())
      }
    })
    new Counter({
      name: 'wsstar_relay_shared_frames_total',
      help: 'Data frames that waited on the server for their share of a receiver other dials sent to at the same time',
      registers,
      collect () {
        this.reset()
        this.inc(source.sharedFrames())
      }
    })
    new Counter({
      name: 'wsstar_frames_total',
      help: 'Data-plane frames relayed, by type (d data, c credit, e end)',
      labelNames: ['type'],
      registers,
      collect () {
        const frames = source.frames()
        this.reset()
        this.inc({ type: 'd' }, frames.d)
        this.inc({ type: 'c' }, frames.c)
        this.inc({ type: 'e' }, frames.e)
      }
    })
    // counted by the relay per frame in plain buckets (size-histogram.ts), exposed as a histogram here
    const frameSizes = { name: 'wsstar_relayed_frame_bytes', help: 'Payload sizes of the relayed data frames, bytes (power-of-two buckets)', type: 'histogram', aggregator: 'sum' }
    this.registry.registerMetric({
      ...frameSizes,
      collect () {},
      reset () {},
      get: async () => ({ ...frameSizes, values: source.frameSizes().samples(frameSizes.name) })
    } as unknown as Metric)
    const reclaimCounter = (name: string, help: string, read: (s: ReturnType<MetricsSource['memoryReclaim']>) => number): void => {
      new Counter({ name, help, registers, collect () { this.reset(); this.inc(read(source.memoryReclaim())) } })
    }
    reclaimCounter('wsstar_memory_reclaims_total', 'Times V8 was put in its memory-saving mode after the event loop was quiet (its memory reducer then collects incrementally)', s => s.reclaims)
    reclaimCounter('wsstar_memory_reclaimed_bytes_total', 'RSS those reclaims gave back to the OS', s => s.reclaimedBytes)
    reclaimCounter('wsstar_memory_reclaim_pause_seconds_total', 'Event-loop time of the memory-reducing collections during those reclaims (their pauses)', s => s.pauseSeconds)
  }

  /** `seconds`: how long a join that registered took */
  join (result: JoinResultLabel, seconds?: number): void {
    this.#joins.inc({ result })
    if (seconds != null) this.#joinDuration.observe(seconds)
  }

  /** `seconds`: how long a dial the callee accepted took to set up */
  dial (result: DialResultLabel, seconds?: number): void {
    this.#dials.inc({ result })
    if (seconds != null) this.#dialSetup.observe(seconds)
  }

  rejected (code: ErrorCode): void {
    this.#rejected.inc({ code })
  }

  limitHit (limit: string): void {
    this.#limitHits.inc({ limit })
  }

  /** a private server refused a socket or a join; `reason`: one of auth-refusal.ts's */
  authRefused (reason: string): void {
    this.#authRefusals.inc({ reason })
  }

  /** the hook's verdict on a join, from its answer or from the cache */
  authHook (result: 'allowed' | 'denied' | 'failed', cached: boolean): void {
    if (cached) {
      this.#authHookCacheHits.inc()
    } else {
      this.#authHook.inc({ result })
    }
  }

  authReload (result: 'ok' | 'failed'): void {
    this.#authReloads.inc({ result })
  }
}
