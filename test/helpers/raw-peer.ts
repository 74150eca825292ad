/**
 * A bare protocol-v2 client (socket.io-client + the protocol package): a
 * peer the tests control frame by frame, e.g. a callee that answers dials
 * late.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { Event, PROTOCOL_VERSION, parseJoinAck, signJoin } from '@wsstar/protocol'
import { io } from 'socket.io-client'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import type { Socket } from 'socket.io-client'

export interface RawPeer {
  key: PrivateKey
  peerId: PeerId
  address: string
  socket: Socket
  /** frames received: `e` frames as `[dialId, kind]` */
  ends: Array<[string, string]>
  incoming: string[]
  close(): void
}

export interface RawPeerOptions {
  /** how to answer `ss-incomming`: ms to wait before accepting, or 'ignore' to never answer */
  answer?: number | 'ignore'
  /** the peer's key (default: a fresh Ed25519 key) */
  key?: PrivateKey
}

export async function request (socket: Socket, event: string, ...args: unknown[]): Promise<any> {
  return new Promise((resolve, reject) => {
    socket.emit(event, ...args, (err: any, result: any) => { err != null ? reject(Object.assign(new Error(err.message), err)) : resolve(result) })
  })
}

export async function rawPeer (port: number, options: RawPeerOptions = {}): Promise<RawPeer> {
  const key = options.key ?? await generateKeyPair('Ed25519')
  const peerId = peerIdFromPrivateKey(key)
  const address = `/ip4/127.0.0.1/tcp/${port}/ws/p2p-websocket-star/p2p/${peerId}`
  const socket = io(`ws://127.0.0.1:${port}`, { transports: ['websocket'], auth: { protocol: PROTOCOL_VERSION }, reconnection: false, forceNew: true })
  const peer: RawPeer = { key, peerId, address, socket, ends: [], incoming: [], close: () => { socket.disconnect() } }
  socket.on(Event.END, (dialId: string, kind: string) => { peer.ends.push([dialId, kind]) })
  socket.on(Event.INCOMING, (dialId: string, from: string, ack: (err: unknown) => void) => {
    peer.incoming.push(dialId)
    if (options.answer === 'ignore') return
    setTimeout(() => { ack(null) }, options.answer ?? 0)
  })
  await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('connect_error', reject) })
  const hello = parseJoinAck(await request(socket, Event.JOIN, address, {}))
  if ('nonce' in hello) {
    parseJoinAck(await request(socket, Event.JOIN, address, { signature: await signJoin(key, address, hello.nonce) }))
  }
  return peer
}
