/**
 * The challenge join (docs/PROTOCOL.md "Join"): a hello, the server's nonce,
 * the signed proof. An RSA key is sent with the hello (its peer id does not
 * embed it).
 */
import { encodePublicKey, Event, parseJoinAck, signJoin } from '@wsstar/protocol'
import { RequestFailed, request } from './request.js'
import type { WireErr } from './request.js'
import type { JoinResult } from '@wsstar/protocol'
import type { PrivateKey } from '@libp2p/interface'
import type { Socket } from 'socket.io-client'

export interface JoinOptions {
  /** send the public key with the hello (default: for RSA keys only) */
  sendKey?: boolean
  /** the join data's `namespaces` (sent with the hello; default: none, the default namespace) */
  namespaces?: unknown
}

/** The two-step join; resolves `[error, result]` of the step that ended it (the hello when it failed or registered directly). */
export async function tryJoin (socket: Socket, signer: { key: PrivateKey }, address: string, options: JoinOptions = {}): Promise<[WireErr | null, any]> {
  const hello: Record<string, unknown> = (options.sendKey ?? signer.key.type === 'RSA') ? { publicKey: encodePublicKey(signer.key.publicKey) } : {}
  if (options.namespaces !== undefined) hello.namespaces = options.namespaces
  const [err, challenge] = await request(socket, Event.JOIN, address, hello)
  if (err != null || challenge?.nonce == null) return [err, challenge]
  return await request(socket, Event.JOIN, address, { signature: await signJoin(signer.key, address, challenge.nonce) })
}

/**
 * The two-step join; resolves its result as the server sent it (checked to be
 * a well-formed join answer), throws RequestFailed (with the `code`) when refused.
 */
export async function join (socket: Socket, signer: { key: PrivateKey }, address: string, options: JoinOptions = {}): Promise<JoinResult> {
  const [err, result] = await tryJoin(socket, signer, address, options)
  if (err != null) throw new RequestFailed(Event.JOIN, err)
  parseJoinAck(result)
  return result
}

/** The one-request join, signed over the socket id (what the transport does first). */
export async function tryJoinBySocketId (socket: Socket, signer: { key: PrivateKey }, address: string, options: Pick<JoinOptions, 'namespaces'> = {}): Promise<[WireErr | null, any]> {
  const sid = socket.id
  if (sid == null) throw new Error('the socket is not connected (no id to sign)')
  const data: Record<string, unknown> = { sid, signature: await signJoin(signer.key, address, sid) }
  if (options.namespaces !== undefined) data.namespaces = options.namespaces
  return await request(socket, Event.JOIN, address, data)
}
