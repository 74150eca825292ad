'use strict'
// The plumbing of the raw socket.io v2 (Engine.IO 3) clients in this folder: the old
// socket.io-client and peer-id code from bench/legacy (Node 20), a connect, an acked emit
// and the legacy two-step join, written by hand so a test can bend any step of it.
const path = require('path')
const { createRequire } = require('module')

const benchDir = path.resolve(__dirname, '../../bench/legacy')
const req = createRequire(path.join(benchDir, 'package.json'))
const io = req('socket.io-client')
const { createPeerIds } = req('./node-crypto-peer-ids.cjs')

const send = (m) => { if (process.connected) process.send(m) }
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

function connect (port) {
  const socket = io(`http://127.0.0.1:${port}`, { transports: ['websocket'], forceNew: true, reconnection: false })
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket))
    socket.once('connect_error', reject)
  })
}
const emit = (socket, ...args) => new Promise((resolve) => socket.emit(...args, (...res) => resolve(res)))
const signHex = (id, msg) => new Promise((resolve, reject) => id.privKey.sign(Buffer.from(msg), (err, sig) => err ? reject(err) : resolve(sig.toString('hex'))))

/** The legacy join: public key (hex) -> nonce, signature (hex) -> peers. */
async function join (socket, id, address) {
  const keyHex = id.marshalPubKey().toString('hex')
  const [err, nonce] = await emit(socket, 'ss-join', address, keyHex)
  if (err) throw new Error(`join: ${err}`)
  const [err2, , peers] = await emit(socket, 'ss-join', address, await signHex(id, nonce))
  if (err2) throw new Error(`join 2: ${err2}`)
  return { nonce, peers }
}

module.exports = { createPeerIds, send, sleep, connect, emit, signHex, join }
