/**
 * A joined raw peer that answers dials by itself: the callee and caller of
 * most tests, controlled frame by frame (`answer` late, or never).
 */
import { Event } from '@wsstar/protocol'
import { connect } from './connect.js'
import { identity, identityOf, peerAddress } from './identity.js'
import { join } from './join.js'
import type { Target } from './connect.js'
import type { KeyType } from './identity.js'
import type { JoinResult } from '@wsstar/protocol'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import type { Socket } from 'socket.io-client'

export interface RawPeer {
  key: PrivateKey
  peerId: PeerId
  address: string
  socket: Socket
  /** what the join answered */
  joined: JoinResult
  /** `e` frames received, as `[dialId, kind]` */
  ends: Array<[string, string]>
  /** dial ids of the `ss-incomming` offers received */
  incoming: string[]
  close(): void
}

export interface RawPeerOptions {
  /** how to answer `ss-incomming`: ms to wait before accepting (default 0), or 'ignore' to never answer */
  answer?: number | 'ignore'
  /** the peer's key (default: a fresh key of `keyType`) */
  key?: PrivateKey
  /** default Ed25519 */
  keyType?: KeyType
  /** the join's `namespaces` (default: none, the default namespace) */
  namespaces?: string[]
}

/** Connects to `target` and joins; the socket is closed by `close()` or `closeClients()`. */
export async function rawPeer (target: Target, options: RawPeerOptions = {}): Promise<RawPeer> {
  const who = options.key == null ? await identity(options.keyType) : identityOf(options.key)
  const address = peerAddress(target, who)
  const socket = await connect(target)
  const ends: RawPeer['ends'] = []
  const incoming: string[] = []
  socket.on(Event.END, (dialId: string, kind: string) => { ends.push([dialId, kind]) })
  socket.on(Event.INCOMING, (dialId: string, _from: string, ack: (err: null) => void) => {
    incoming.push(dialId)
    if (options.answer === 'ignore') return
    setTimeout(() => { ack(null) }, options.answer ?? 0)
  })
  const joined = await join(socket, who, address, { namespaces: options.namespaces })
  return { ...who, address, socket, joined, ends, incoming, close: () => { socket.disconnect() } }
}
