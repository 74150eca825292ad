'use strict'
// Raw socket.io v2 (Engine.IO 3) clients (from bench/legacy, on Node 20) that abuse the
// socket.io-pull-stream relay of one legacy dial, step by step, driven by the parent over IPC.
// A (the caller) and B (the callee, an honest peer that acks ss-incomming) join; A dials B.
// Commands, each answered by one message:
//   { cmd: 'setup', port }             -> { type: 'set', calleeId }
//   { cmd: 'pause' } / { cmd: 'resume' } B stops / starts reading its TCP socket -> { type: 'paused' | 'resumed' }
//   { cmd: 'emit', event, arg, n }     A emits `socket.io-pull-stream.<event>` n times (x1 = A's dial id)
//                                      and waits until its socket wrote them all -> { type: 'emitted' }
//   { cmd: 'events' }                  -> { type: 'events', a: [...], b: [...] }  pull-stream events each end got
//   { cmd: 'dial', id }                A dials B again -> { type: 'dialed', ack }
//   { cmd: 'requests', event, args, n } A stops reading its own socket and sends n requests with an
//                                      ack (answers it will never read) -> { type: 'requested', closed }
const { createPeerIds, send, sleep, connect, emit, join } = require('./legacy-raw-client.cjs')

/** records the socket.io-pull-stream events a socket receives: [name, payload size or value] */
function record (socket, into) {
  const onevent = socket.onevent
  socket.onevent = function (packet) {
    const [name, arg] = packet.data || []
    if (typeof name === 'string' && name.startsWith('socket.io-pull-stream.')) {
      into.push([name, Buffer.isBuffer(arg) ? arg.length : arg])
    }
    return onevent.call(this, packet)
  }
}

/** the net.Socket under a socket.io v2 client's websocket */
const tcpOf = (socket) => socket.io.engine.transport.ws._socket

let a, b, addrA, addrB, calleeId
const aEvents = []
const bEvents = []

async function setup (port) {
  const [ia, ib] = await createPeerIds(2)
  const addr = (id) => `/ip4/127.0.0.1/tcp/${port}/ws/p2p-websocket-star/ipfs/${id.toB58String()}`
  addrA = addr(ia)
  addrB = addr(ib)
  a = await connect(port)
  b = await connect(port)
  record(a, aEvents)
  record(b, bEvents)
  b.on('ss-incomming', (dialId, from, ack) => { calleeId = calleeId || dialId; ack() })
  await join(a, ia, addrA)
  await join(b, ib, addrB)
  const [err] = await emit(a, 'ss-dial', addrA, addrB, 'x1')
  if (err) throw new Error(`dial: ${err}`)
  return { type: 'set', calleeId }
}

/** resolves once everything A emitted has left its process */
async function drained (socket) {
  for (let i = 0; i < 600; i++) {
    const engine = socket.io.engine
    if (engine.writeBuffer.length === 0 && tcpOf(socket).writableLength === 0) return
    await sleep(50)
  }
  throw new Error('A could not write its events within 30 s')
}

async function handle (m) {
  if (m.cmd === 'setup') return setup(m.port)
  if (m.cmd === 'pause') { tcpOf(b).pause(); return { type: 'paused' } }
  if (m.cmd === 'resume') { tcpOf(b).resume(); return { type: 'resumed' } }
  if (m.cmd === 'emit') {
    const name = `socket.io-pull-stream.${m.event}`
    for (let i = 0; i < m.n; i++) {
      if (m.arg === undefined) a.emit(name)
      else a.emit(name, m.arg)
      // let the websocket write between batches instead of building one huge buffer here
      if (i % 5000 === 4999) await sleep(1)
    }
    await drained(a)
    return { type: 'emitted' }
  }
  if (m.cmd === 'requests') {
    tcpOf(a).pause()
    let closed = false
    a.once('disconnect', () => { closed = true })
    for (let i = 0; i < m.n && !closed; i++) {
      a.emit(m.event, ...m.args, () => {})
      if (i % 5000 === 4999) await sleep(1)
    }
    if (!closed) await drained(a).catch(() => {})
    return { type: 'requested', closed }
  }
  if (m.cmd === 'events') return { type: 'events', a: aEvents, b: bEvents }
  if (m.cmd === 'dial') {
    const ack = await emit(a, 'ss-dial', addrA, addrB, m.id)
    return { type: 'dialed', ack }
  }
  throw new Error(`unknown command ${m.cmd}`)
}

process.on('message', (m) => {
  handle(m).then(send, (err) => send({ type: 'error', message: String(err && err.stack || err) }))
})
process.on('disconnect', () => process.exit(0))
send({ type: 'ready' })
