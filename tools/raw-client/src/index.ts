/**
 * @wsstar/raw-client: the one raw protocol v2 client of the tests and the
 * benchmarks (socket.io-client plus @wsstar/protocol, no transport package):
 * frames go out as the test writes them, and every wait is bounded, so a
 * server that does not answer fails a test instead of hanging it. Private to
 * this repository, never published.
 *
 * @example
 * ```ts
 * import { closeClients, openDial, rawPeer, DialEnd } from '@wsstar/raw-client'
 *
 * const caller = await rawPeer(port)
 * const callee = await rawPeer(port, { answer: 'ignore' })
 * const dialId = await openDial(caller, callee)
 * const sender = new DialEnd(caller.socket, dialId, caller.joined.window)
 * await sender.send(new Uint8Array(100_000))
 * closeClients()
 * ```
 */
export * from './connect.js'
export * from './dial.js'
export * from './dial-end.js'
export * from './identity.js'
export * from './join.js'
export * from './next-event.js'
export * from './pump.js'
export * from './raw-peer.js'
export * from './read-pause.js'
export * from './request.js'
