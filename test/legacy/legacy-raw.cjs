'use strict'
// Raw socket.io v2 (Engine.IO 3) clients speaking the legacy events by hand (from
// bench/legacy, on Node 20): probes the legacy mode's hardening and sends the
// results to the parent as one { type: 'results', ... } message.
const { createPeerIds, send, sleep, connect, emit, signHex, join } = require('./legacy-raw-client.cjs')

async function main (port) {
  const r = {}
  const [ia, ib, ic] = await createPeerIds(3)
  const addr = (id) => `/ip4/127.0.0.1/tcp/${port}/ws/p2p-websocket-star/ipfs/${id.toB58String()}`
  const a = await connect(port)
  const keyA = ia.marshalPubKey().toString('hex')
  // an address naming another server than the one connected to (a join a 0.10 client made elsewhere)
  r.otherServer = (await emit(a, 'ss-join', `/ip4/10.0.0.1/tcp/${port}/ws/p2p-websocket-star/ipfs/${ia.toB58String()}`, keyA))[0]
  // nonce: domain-separated, single use
  const [, nonce1] = await emit(a, 'ss-join', addr(ia), keyA)
  r.nonce = nonce1
  r.badSignature = (await emit(a, 'ss-join', addr(ia), '00'.repeat(256)))[0]
  r.afterConsumed = (await emit(a, 'ss-join', addr(ia), await signHex(ia, nonce1)))[0]
  r.wrongKey = (await emit(a, 'ss-join', addr(ia), ib.marshalPubKey().toString('hex')))[0]
  const [, nonce2] = await emit(a, 'ss-join', addr(ia), keyA)
  const sig2 = await signHex(ia, nonce2)
  r.joinA = await emit(a, 'ss-join', addr(ia), sig2)
  r.replay = (await emit(a, 'ss-join', addr(ia), sig2))[0]
  // B and C
  const b = await connect(port)
  const c = await connect(port)
  const bEvents = []
  b.on('ss-incomming', (dialId, from, ack) => { bEvents.push(['ss-incomming', dialId, from]); ack() })
  const origOnevent = b.onevent
  b.onevent = function (packet) {
    const [name] = packet.data || []
    if (typeof name === 'string' && name.startsWith('socket.io-pull-stream.')) bEvents.push([name, Buffer.isBuffer(packet.data[1]) ? packet.data[1].length : packet.data[1]])
    return origOnevent.call(this, packet)
  }
  r.joinB = (await join(b, ib, addr(ib))).peers
  r.joinC = (await join(c, ic, addr(ic))).peers
  // dial ids are scoped per socket
  r.dial = await emit(a, 'ss-dial', addr(ia), addr(ib), 'x1')
  r.calleeDialId = (bEvents.find(e => e[0] === 'ss-incomming') || [])[1]
  r.incomingFrom = (bEvents.find(e => e[0] === 'ss-incomming') || [])[2]
  // C tries to inject into A's dial under A's id and under B's id
  c.emit('socket.io-pull-stream.queue.x1.dialer', Buffer.from('hijack'))
  c.emit(`socket.io-pull-stream.queue.${r.calleeDialId}.dialer`, Buffer.from('hijack'))
  c.emit(`socket.io-pull-stream.queue.${r.calleeDialId}.listener`, Buffer.from('hijack'))
  await sleep(200)
  a.emit('socket.io-pull-stream.queue.x1.dialer', Buffer.from('hello'))
  await sleep(300)
  r.bPullEvents = bEvents.filter(e => e[0] !== 'ss-incomming')
  r.sameDialId = (await emit(a, 'ss-dial', addr(ia), addr(ib), 'x1'))[0]
  r.notAuthorized = (await emit(a, 'ss-dial', addr(ib), addr(ic), 'x2'))[0]
  r.notFound = (await emit(a, 'ss-dial', addr(ia), `/ip4/127.0.0.1/tcp/${port}/ws/p2p-websocket-star/ipfs/QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN`, 'x3'))[0]
  r.badDialId = (await emit(a, 'ss-dial', addr(ia), addr(ib), 'x'.repeat(65)))[0]
  // garbage does not crash the server
  for (const bad of [null, 1, {}, [], 'x'.repeat(10000)]) {
    a.emit('ss-join', bad, bad, () => {})
    a.emit('ss-dial', bad, bad, bad, () => {})
    a.emit('socket.io-pull-stream.queue.' + String(bad).slice(0, 50), bad)
  }
  r.stillAlive = (await emit(a, 'ss-dial', addr(ia), addr(ib), 'x4'))[0]
  for (const s of [a, b, c]) s.close()
  send({ type: 'results', r })
}

process.on('message', (m) => {
  if (m.cmd === 'run') main(m.port).catch((err) => send({ type: 'error', message: String(err && err.stack || err) }))
})
process.on('disconnect', () => process.exit(0))
send({ type: 'ready' })
