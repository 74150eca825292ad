/**
 * Test helpers: real servers on loopback, and what the tests of this package
 * do with @wsstar/raw-client (the raw protocol v2 client the tests share).
 */
import { connect, identity, join, peerAddress } from '@wsstar/raw-client'
import { pino } from 'pino'
import { createRendezvousServer } from '../src/index.js'
import type { RendezvousServer, RendezvousServerOptions } from '../src/index.js'
import type { Identity, KeyType } from '@wsstar/raw-client'
import type { JoinResult } from '@wsstar/protocol'
import type { Socket } from 'socket.io-client'

export const silentLogger = pino({ level: 'silent' })

/** every test client connects from 127.0.0.1: the per-IP limits are tested on their own (per-ip-limits.test.ts, test/hostile/per-ip.test.ts) */
export const RAISED_PER_IP_LIMITS = { maxSocketsPerIp: 1e6, joinRatePerIp: 1e6, joinBurstPerIp: 1e6 }

export async function startServer (options: RendezvousServerOptions = {}): Promise<RendezvousServer> {
  const server = createRendezvousServer({ port: 0, host: '127.0.0.1', logger: silentLogger, ...options, limits: { shutdownGraceMs: 200, ...RAISED_PER_IP_LIMITS, ...options.limits } })
  await server.start()
  return server
}

function serverUrl (server: RendezvousServer): string {
  return `http://127.0.0.1:${server.port}`
}

/** The operator listener (`adminPort`) of a server started with one. */
export function adminUrl (server: RendezvousServer): string {
  if (server.adminPort == null) {
    throw new Error('this server has no admin listener (start it with adminPort)')
  }
  return `http://127.0.0.1:${server.adminPort}`
}

/** which listener a request goes to: the client port or the operator (admin) port */
export type Listener = 'client' | 'admin'

function listenerUrl (server: RendezvousServer, listener: Listener): string {
  return listener === 'admin' ? adminUrl(server) : serverUrl(server)
}

/** Connects and joins a fresh peer (Ed25519 unless `type` says otherwise). */
export async function joinedClient (server: RendezvousServer, type: KeyType = 'Ed25519'): Promise<{ socket: Socket, peer: Identity, address: string, result: JoinResult }> {
  const peer = await identity(type)
  const socket = await connect(server)
  const address = peerAddress(server, peer)
  const result = await join(socket, peer, address)
  return { socket, peer, address, result }
}

export async function waitUntil (predicate: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!predicate()) {
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`)
    }
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}

export async function sleep (ms: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms))
}

/** how long an HTTP request of a test may take */
const HTTP_TIMEOUT_MS = 10_000

export async function getJson (server: RendezvousServer, path: string, listener: Listener = 'client'): Promise<{ status: number, body: any }> {
  const res = await fetch(`${listenerUrl(server, listener)}${path}`, { signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) })
  return { status: res.status, body: await res.json() }
}

export async function getText (server: RendezvousServer, path: string, listener: Listener = 'client'): Promise<{ status: number, body: string, type: string | null }> {
  const res = await fetch(`${listenerUrl(server, listener)}${path}`, { signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) })
  return { status: res.status, body: await res.text(), type: res.headers.get('content-type') }
}

/** The value of one sample line of the Prometheus text format, e.g. `wsstar_rejected_total{code="ERR_BAD_REQUEST"}`. */
export async function metricValue (server: RendezvousServer, sample: string): Promise<number> {
  const text = await server.metrics.metrics()
  const line = text.split('\n').find(l => l.startsWith(`${sample} `))
  return line == null ? 0 : Number(line.slice(sample.length + 1))
}
