'use strict'
// A real libp2p-websocket-star@0.10.2 client (from bench/legacy, run on the machine's
// Node 20), driven by its parent over IPC. Messages to the parent:
//   { type: 'listening', address, peers }       joined (peers: 'peer' events so far)
//   { type: 'peer', address }                    a 'peer' event (ws-peer or join list)
//   { type: 'dialed' } / { type: 'dial-error', message }
//   { type: 'sent', bytes, sha256 }              the dialer's source ended
//   { type: 'received', bytes, sha256, error }   an incoming connection ended
//   { type: 'error', message }
// Commands: { cmd: 'listen', port }, { cmd: 'dial', to, mib, chunk, hold }, { cmd: 'write' } (a held dial),
//   { cmd: 'leave' } (ss-leave for its address; answers { type: 'left' }), { cmd: 'exit' }
const path = require('path')
const nodeCrypto = require('node:crypto')
const { createRequire } = require('module')

const benchDir = path.resolve(__dirname, '../../bench/legacy')
const req = createRequire(path.join(benchDir, 'package.json'))
const WStar = req('libp2p-websocket-star')
const multiaddr = req('multiaddr')
const pull = req('pull-stream')
const { createPeerIds } = req('./node-crypto-peer-ids.cjs')

const send = (m) => { if (process.connected) process.send(m) }
process.on('uncaughtException', (err) => { send({ type: 'error', message: String(err && err.stack || err) }) })

let transport
let listener
let id
const peers = []

async function listen (port) {
  ;[id] = await createPeerIds(1)
  transport = new WStar({ id })
  listener = transport.createListener((conn) => {
    const hash = nodeCrypto.createHash('sha256')
    let bytes = 0
    pull(conn, pull.drain((buf) => { bytes += buf.length; hash.update(buf) }, (err) => {
      send({ type: 'received', bytes, sha256: hash.digest('hex'), error: err && err !== true ? String(err.message || err) : null })
    }))
  })
  listener.on('error', (err) => send({ type: 'error', message: String(err && err.message || err) }))
  // the listener emits the join list's strings and ws-peer multiaddrs as they come
  listener.on('peer', (p) => {
    const address = String(p)
    peers.push(address)
    send({ type: 'peer', address, id: address.split('/ipfs/').pop() })
  })
  const address = `/ip4/127.0.0.1/tcp/${port}/ws/p2p-websocket-star/ipfs/${id.toB58String()}`
  await new Promise((resolve, reject) => listener.listen(multiaddr(address), (err) => err ? reject(err) : resolve()))
  send({ type: 'listening', address, id: id.toB58String(), peers })
}

let held = null
function dial ({ to, mib, chunk, hold }) {
  transport.dial(multiaddr(to), (err, conn) => {
    if (err) { send({ type: 'dial-error', message: String(err.message || err) }); return }
    send({ type: 'dialed' })
    const total = Math.round(mib * 1024 * 1024)
    const hash = nodeCrypto.createHash('sha256')
    let sent = 0
    const source = (end, cb) => {
      if (end) return cb(end)
      if (sent >= total) { send({ type: 'sent', bytes: sent, sha256: hash.digest('hex') }); return cb(true) }
      const buf = nodeCrypto.randomBytes(Math.min(chunk, total - sent))
      sent += buf.length
      hash.update(buf)
      cb(null, buf)
    }
    const write = () => pull(source, conn)
    pull(conn, pull.drain(() => {}, () => {}))
    if (hold) held = write
    else write()
  })
}

process.on('message', (m) => {
  if (m.cmd === 'listen') listen(m.port).catch((err) => send({ type: 'error', message: String(err && err.message || err) }))
  else if (m.cmd === 'dial') dial(m)
  else if (m.cmd === 'write' && held) { const w = held; held = null; w() }
  // the 0.10.2 client never sends ss-leave itself (closing a listener disconnects): send it on its socket
  else if (m.cmd === 'leave') { listener.io.emit('ss-leave', listener.ma.toString()); send({ type: 'left' }) }
  else if (m.cmd === 'exit') { try { listener.close() } catch (_) { /* not listening */ } setTimeout(() => process.exit(0), 100) }
})
process.on('disconnect', () => process.exit(0))
send({ type: 'ready' })
