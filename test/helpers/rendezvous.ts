/**
 * Starts the real rendezvous server (`@wsstar/rendezvous`) on loopback for
 * the cross-package tests.
 */
import { createRendezvousServer } from '@wsstar/rendezvous'
import { pino } from 'pino'
import type { RendezvousServer, RendezvousServerOptions } from '@wsstar/rendezvous'

export type TestServer = RendezvousServer

/** `port: 0` (the default) picks a free port; pass a port to start a server where another one was. */
export async function startRendezvous (options: RendezvousServerOptions = {}): Promise<TestServer> {
  // every test node connects from 127.0.0.1: per-IP limits out of the way (tested in test/hostile/per-ip.test.ts)
  const limits = { maxSocketsPerIp: 1e6, joinRatePerIp: 1e6, joinBurstPerIp: 1e6, ...options.limits }
  const server = createRendezvousServer({ host: '127.0.0.1', logger: pino({ level: 'silent' }), ...options, limits, port: options.port ?? 0 })
  await server.start()
  return server
}

/** The websocket-star listen address of a loopback server. */
export function listenAddr (port: number): string {
  return `/ip4/127.0.0.1/tcp/${port}/ws/p2p-websocket-star`
}
