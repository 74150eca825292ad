// A minimal wsstar client speaking socket.io v4 / engine.io v4 by hand over
// one `ws` websocket: text packets only (joins, leaves, dials, ends and
// ws-peers need no binary). Far lighter per socket than socket.io-client, so
// one load-generator process can hold thousands of idle peers without being
// the bottleneck, and it can count what the server sends without decoding
// it (ws-peers packets are counted by prefix and length, never parsed).
//
// engine.io: '0' open, '2' ping → '3' pong, '4' message, '1' close
// socket.io (inside '4'): '0' connect ('40{auth}' → '40{"sid"}'),
//   '2' event ('42[name,...]', '42<id>[name,...]' wants an ack), '3' ack ('43<id>[...]')

import { createPrivateKey, createPublicKey, generateKeyPairSync, sign } from 'node:crypto'
import { publicKeyFromRaw } from '@libp2p/crypto/keys'
import { peerIdFromPublicKey } from '@libp2p/peer-id'
import { joinPayload, PROTOCOL_VERSION } from '@wsstar/protocol'
import WebSocket from 'ws'

const PEERS_PREFIX = '42["ws-peers"'

/** An Ed25519 identity, with node:crypto KeyObjects so that signing a join costs one native call. */
export function createIdentity () {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519')
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x, 'base64url')
  const peerId = peerIdFromPublicKey(publicKeyFromRaw(raw)).toString()
  return { peerId, privateKey }
}

/** Exported/imported through IPC as PKCS#8 DER (KeyObjects do not cross process boundaries). */
export function exportIdentity (id) {
  return { peerId: id.peerId, pkcs8: id.privateKey.export({ format: 'der', type: 'pkcs8' }) }
}
export function importIdentity (e) {
  return { peerId: e.peerId, privateKey: createPrivateKey({ key: Buffer.from(e.pkcs8), format: 'der', type: 'pkcs8' }) }
}
export { createPublicKey }

/** Client-side counters shared by all sockets of a process. */
export const counters = { peersMessages: 0, peersBytes: 0, rxMessages: 0, rxBytes: 0, incoming: 0, ends: 0 }

export class WireSocket {
  /**
   * `token`: a private server's bearer token, sent in the socket.io CONNECT (`auth.token`);
   * `localAddress`: the loopback source address to connect from (127.0.0.2, …: another ~28,000 ephemeral ports each);
   * `namespaces`: the join data's (undefined: the default namespace)
   */
  constructor (port, identity, token, localAddress, namespaces) {
    this.port = port
    this.identity = identity
    this.token = token
    this.localAddress = localAddress
    this.namespaces = namespaces
    this.address = `/ip4/127.0.0.1/tcp/${port}/ws/p2p-websocket-star/p2p/${identity.peerId}`
    this.nextAck = 0
    this.acks = new Map()
    this.joined = false
    this.onIncoming = null
  }

  connect () {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${this.port}/socket.io/?EIO=4&transport=websocket`, { perMessageDeflate: false, ...(this.localAddress == null ? {} : { localAddress: this.localAddress }) })
      this.ws = ws
      let connected = false
      ws.on('message', (data, isBinary) => {
        if (isBinary) return
        const s = data.toString()
        counters.rxMessages++
        counters.rxBytes += s.length
        const t = s.charCodeAt(0)
        if (t === 0x34 /* 4 */) {
          if (s.startsWith(PEERS_PREFIX)) {
            counters.peersMessages++
            counters.peersBytes += s.length
            return
          }
          const p = s.charCodeAt(1)
          if (p === 0x33 /* 3: ack */) {
            const bracket = s.indexOf('[')
            const id = Number(s.slice(2, bracket))
            const cb = this.acks.get(id)
            if (cb != null) {
              this.acks.delete(id)
              cb(JSON.parse(s.slice(bracket)))
            }
          } else if (p === 0x32 /* 2: event */) {
            const bracket = s.indexOf('[')
            const id = bracket > 2 ? Number(s.slice(2, bracket)) : undefined
            const args = JSON.parse(s.slice(bracket))
            if (args[0] === 'ss-incomming') {
              counters.incoming++
              if (this.onIncoming != null) this.onIncoming(args[1], args[2], id)
              else if (id !== undefined) this.send(`43${id}[null]`)
            } else if (args[0] === 'e') {
              counters.ends++
            }
          } else if (p === 0x30 /* 0: connect */) {
            // '40{"sid":"..."}': the socket id a one-request join signs
            this.sid = JSON.parse(s.slice(2)).sid
            connected = true
            resolve(this)
          } else if (p === 0x34 /* 4: connect error */) {
            reject(new Error(`connect error ${s}`))
          }
        } else if (t === 0x32 /* 2: ping */) {
          ws.send('3')
        } else if (t === 0x30 /* 0: open */) {
          ws.send(`40${JSON.stringify(this.token == null ? { protocol: PROTOCOL_VERSION } : { protocol: PROTOCOL_VERSION, token: this.token })}`)
        }
      })
      ws.on('error', (err) => { if (!connected) reject(err) })
      ws.on('close', () => {
        this.closed = true
        if (!connected) reject(new Error('closed before connect'))
        for (const cb of this.acks.values()) cb([{ code: 'CLOSED', message: 'socket closed' }])
        this.acks.clear()
      })
    })
  }

  send (packet) {
    this.ws.send(packet)
  }

  /** emit with an ack: resolves with the ack's argument array */
  request (event, ...args) {
    const id = this.nextAck++
    if (this.closed || this.ws == null || this.ws.readyState !== WebSocket.OPEN) {
      return Promise.resolve([{ code: 'CLOSED', message: 'socket not open' }])
    }
    return new Promise(resolve => {
      this.acks.set(id, resolve)
      this.ws.send(`42${id}${JSON.stringify([event, ...args])}`)
    })
  }

  emit (event, ...args) {
    if (this.closed) return
    this.ws.send(`42${JSON.stringify([event, ...args])}`)
  }

  /**
   * The Ed25519 join: one request signed over the socket id (`mode` 'socket',
   * the transport's default), or the two-step hello → nonce → proof ('nonce').
   * Resolves with { helloMs, signMs, proofMs } or throws.
   */
  async join (mode = 'socket') {
    if (mode === 'socket') {
      const t0 = performance.now()
      const signature = sign(null, joinPayload(this.address, this.sid), this.identity.privateKey).toString('base64')
      const t1 = performance.now()
      const data = { sid: this.sid, signature }
      if (this.namespaces != null) data.namespaces = this.namespaces
      const [err, result] = await this.request('ss-join', this.address, data)
      if (err != null) throw new Error(`join: ${err.code} ${err.message}`)
      if (result.verified !== true) throw new Error('join: the server did not verify the signature')
      this.joined = true
      this.lastSample = result.peers.length
      return { helloMs: 0, signMs: t1 - t0, proofMs: performance.now() - t1 }
    }
    const t0 = performance.now()
    const [err1, challenge] = await this.request('ss-join', this.address, this.namespaces == null ? {} : { namespaces: this.namespaces })
    if (err1 != null) throw new Error(`hello: ${err1.code} ${err1.message}`)
    const t1 = performance.now()
    if (challenge.nonce == null) { this.joined = true; return { helloMs: t1 - t0, proofMs: 0 } }
    const signature = sign(null, joinPayload(this.address, challenge.nonce), this.identity.privateKey).toString('base64')
    const t2 = performance.now()
    const [err2, result] = await this.request('ss-join', this.address, { signature })
    if (err2 != null) throw new Error(`proof: ${err2.code} ${err2.message}`)
    this.joined = true
    this.lastSample = result.peers.length
    return { helloMs: t1 - t0, signMs: t2 - t1, proofMs: performance.now() - t2 }
  }

  async leave () {
    const [err] = await this.request('ss-leave', this.address)
    if (err != null) throw new Error(`leave: ${err.code} ${err.message}`)
    this.joined = false
  }

  close () {
    try { this.ws.terminate() } catch { /* never connected */ }
  }
}
