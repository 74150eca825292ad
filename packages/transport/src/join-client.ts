import { peerIdFromString } from '@libp2p/peer-id'
import { ErrorCode, Event, WsStarError, encodePublicKey, parseJoinAck, signJoin } from '@wsstar/protocol'
import { ChallengeRequiredError, RendezvousProtocolError } from './errors.js'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import type { JoinResult } from '@wsstar/protocol'

/** Sends one request with an ack and resolves with the ack's result (rejects with the ack's error). */
export type Request = (event: string, args: unknown[]) => Promise<unknown>

export interface JoinInit {
  request: Request
  /** our canonical peer address on this server */
  address: string
  peerId: PeerId
  privateKey: PrivateKey
  /** require the server to challenge (see `WebSocketStarInit.challenge`) */
  challenge: boolean
  /**
   * this socket's id as the server sent it in its CONNECT packet: when set,
   * the join is one request signed over it (falling back to the two-step
   * join if the server does not take it)
   */
  socketId?: string
  /** called when the client signs the server's nonce (or, in the one-request join, its socket id) */
  onChallenged?(): void
  /** sent in the hello and the one-request join; undefined: the default namespace */
  namespaces?: string[]
}

/**
 * What a hello carries besides the address: the public key (Ed25519 and
 * secp256k1 ids embed their key; RSA ids are a hash and need the key sent)
 * and the namespaces, if any.
 */
export function helloData (peerId: PeerId, privateKey: PrivateKey, namespaces?: string[]): { publicKey?: string, namespaces?: string[] } {
  const embedded = peerIdFromString(peerId.toString()).publicKey
  const data: { publicKey?: string, namespaces?: string[] } = embedded == null ? { publicKey: encodePublicKey(privateKey.publicKey) } : {}
  if (namespaces != null) {
    data.namespaces = namespaces
  }
  return data
}

function parseAck (value: unknown): ReturnType<typeof parseJoinAck> {
  try {
    return parseJoinAck(value)
  } catch (err) {
    const e = err instanceof WsStarError ? err : new WsStarError('ERR_BAD_REQUEST', String(err))
    throw new RendezvousProtocolError(e.code, `malformed join answer: ${e.message}`)
  }
}

/**
 * The client half of `ss-join` (PROTOCOL.md). With the socket id known, one
 * request: the signature over `"wsstar/2 join\n" + address + "\n" + socketId`
 * (and the public key for RSA ids). A server that answers it with
 * `ERR_CHALLENGE_EXPIRED` (one without that join, or a socket id that went
 * stale in a reconnect) gets the two-step join: hello with the address, then,
 * when the server answers with a nonce, the signature over the nonce.
 */
export async function joinServer (init: JoinInit): Promise<JoinResult> {
  if (init.socketId != null) {
    init.onChallenged?.()
    const signature = await signJoin(init.privateKey, init.address, init.socketId)
    try {
      const result = parseAck(await init.request(Event.JOIN, [init.address, { sid: init.socketId, signature, ...helloData(init.peerId, init.privateKey, init.namespaces) }]))
      if ('nonce' in result) {
        throw new RendezvousProtocolError('ERR_BAD_REQUEST', 'server answered a signed join with a nonce')
      }
      if (init.challenge && result.verified !== true) {
        throw new ChallengeRequiredError()
      }
      return result
    } catch (err) {
      if ((err as { code?: string }).code !== ErrorCode.CHALLENGE_EXPIRED) {
        throw err
      }
    }
  }
  return await joinTwoSteps(init)
}

async function joinTwoSteps (init: JoinInit): Promise<JoinResult> {
  const first = parseAck(await init.request(Event.JOIN, [init.address, helloData(init.peerId, init.privateKey, init.namespaces)]))
  if (!('nonce' in first)) {
    if (init.challenge) {
      throw new ChallengeRequiredError()
    }
    return first
  }
  init.onChallenged?.()
  const signature = await signJoin(init.privateKey, init.address, first.nonce)
  const second = parseAck(await init.request(Event.JOIN, [init.address, { signature }]))
  if ('nonce' in second) {
    throw new RendezvousProtocolError('ERR_BAD_REQUEST', 'server answered the join proof with another nonce')
  }
  return second
}
