#!/usr/bin/env node
'use strict'
// What does a legacy websocket-star CLIENT (libp2p-websocket-star@0.10.2) need from a server?
//
// Part 1 "observe": the real legacy server (libp2p-websocket-star-rendezvous@0.4.1, in a child
//   process, its engine.io packets logged) and two real legacy clients: join with the crypto
//   challenge, discovery, a dial with data both ways, the dial errors, a /p2p/ spelling.
//   Prints the transcript of Engine.IO packets as the server saw them.
// Part 2 "probe": a from-scratch server on socket.io 4 (what wsstar uses), NOT the legacy code,
//   implementing only what the transcript shows; real legacy clients must join, discover, dial
//   and move bytes through it. Then variations that show what the client insists on.
//
//   node wire-observer.cjs [--part observe|probe|all]      (loopback only, ~15 s)
//
// stdout: transcript + PASS/FAIL lines; exit code 0 when every probe behaved as expected.

const { fork } = require('child_process')
const nodeCrypto = require('node:crypto')
const net = require('net')
const path = require('path')
const WStar = require('libp2p-websocket-star')
const multiaddr = require('multiaddr')
const pull = require('pull-stream')
const { createPeerIds } = require('./node-crypto-peer-ids.cjs')

const part = (() => { const i = process.argv.indexOf('--part'); return i > 0 ? process.argv[i + 1] : 'all' })()
const HOST = '127.0.0.1'
const out = (...a) => process.stdout.write(a.join(' ') + '\n')
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const children = new Set()
process.on('exit', () => { for (const c of children) try { c.kill('SIGKILL') } catch (_) { /* already gone */ } })
setTimeout(() => { out('wire-observer: timed out'); process.exit(1) }, 90000).unref()

function freePort () {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.on('error', reject)
    s.listen(0, HOST, () => { const { port } = s.address(); s.close(() => resolve(port)) })
  })
}
const addr = (port, id, spelling = 'ipfs') => `/ip4/${HOST}/tcp/${port}/ws/p2p-websocket-star/${spelling}/${id.toB58String()}`
const timeout = (p, ms, what) => Promise.race([p, sleep(ms).then(() => { throw new Error(what + ': no answer in ' + ms + ' ms') })])

/** a legacy client (one transport + one listener); returns helpers */
function legacyClient (id, opts = {}) {
  const transport = new WStar({ id, ...opts })
  const incoming = []
  const peers = []
  transport.discovery.on('peer', (pi) => peers.push(pi.multiaddrs.toArray().map(String)[0]))
  const listener = transport.createListener((conn) => incoming.push(conn))
  listener.on('error', () => {})
  return {
    transport,
    listener,
    incoming,
    peers,
    listen: (ma) => new Promise((resolve, reject) => listener.listen(multiaddr(ma), (err) => err ? reject(err) : resolve())),
    dial: (ma) => new Promise((resolve, reject) => transport.dial(multiaddr(ma), (err, conn) => err ? reject(err) : resolve(conn)))
  }
}

/** write `msg` into conn and collect what comes back until the other side ends */
function exchange (conn, msg) {
  return new Promise((resolve, reject) => {
    pull(pull.values([Buffer.from(msg)]), conn)
    pull(conn, pull.collect((err, bufs) => err ? reject(err) : resolve(Buffer.concat(bufs).toString())))
  })
}
function answer (conn, msg) { return exchange(conn, msg) }

let failures = 0
function check (ok, what, detail = '') {
  if (!ok) failures++
  out(`${ok ? 'PASS' : 'FAIL'} ${what}${detail ? ' — ' + detail : ''}`)
}

// ------------------------------------------------------------------ part 1: observe
async function observe () {
  out('== part 1: real legacy client <-> real legacy server (libp2p-websocket-star-rendezvous 0.4.1), packets as the server sees them')
  const port = await freePort()
  const lines = []
  const child = fork(path.join(__dirname, 'legacy-server-child.cjs'), ['--port', String(port), '--host', HOST, '--observe'], { stdio: ['ignore', 'inherit', 'pipe', 'ipc'] })
  children.add(child)
  let buf = ''
  child.stderr.on('data', (d) => {
    buf += d
    let i
    while ((i = buf.indexOf('\n')) >= 0) {
      const l = buf.slice(0, i); buf = buf.slice(i + 1)
      try { lines.push(JSON.parse(l)) } catch (_) { process.stderr.write(l + '\n') }
    }
  })
  await new Promise((resolve) => child.on('message', (m) => m.type === 'listening' && resolve()))
  const [ida, idb, idc] = await createPeerIds(3)
  const A = legacyClient(ida)
  const B = legacyClient(idb)
  await B.listen(addr(port, idb))
  await A.listen(addr(port, ida))
  await sleep(200)
  const dialing = A.dial(addr(port, idb))
  const connA = await dialing
  await sleep(100)
  const connB = B.incoming[0]
  const [gotA, gotB] = await Promise.all([exchange(connA, 'hello from A'), answer(connB, 'hello from B')])
  check(gotA === 'hello from B' && gotB === 'hello from A', 'legacy pair: bytes both ways through the legacy server')
  let err = await A.dial(addr(port, idc)).then(() => null, (e) => e.message)
  check(err === 'Peer not found', 'legacy server: dial to an unknown peer', JSON.stringify(err))
  // a raw socket.io v2 client (what any non-0.10.2 client could send)
  const ioc = require('socket.io-client')
  const raw = ioc.connect(`http://${HOST}:${port}`, { transports: ['websocket'], 'force new connection': true, reconnection: false })
  await new Promise((resolve, reject) => { raw.once('connect', resolve); raw.once('connect_error', reject) })
  const emit = (...args) => timeout(new Promise((resolve) => raw.emit(...args, (...ack) => resolve(ack))), 5000, args[0])
  const keyHex = require('libp2p-crypto').keys.marshalPublicKey(idc.pubKey).toString('hex')
  let ack = await emit('ss-join', addr(port, idc, 'p2p'), keyHex)
  check(JSON.stringify(ack) === '[{}]', 'legacy server: join with the /p2p/ spelling is refused, its Error arrives as {}', JSON.stringify(ack))
  ack = await emit('ss-join', addr(port, idc), keyHex.replace(/..$/, '00'))
  check(ack.length === 1 && ack[0] !== null, 'legacy server: join with a key that does not match the id is refused', JSON.stringify(ack))
  ack = await emit('ss-join', addr(port, idc), keyHex)
  const nonce = ack[1]
  check(ack[0] === null && typeof nonce === 'string' && /^([0-9a-f-]{36}){2}$/.test(nonce), 'legacy server: challenge ack is [null, nonce], nonce = two UUIDs concatenated', JSON.stringify(ack))
  const sig = await new Promise((resolve, reject) => idc.privKey.sign(Buffer.from(nonce), (e, s) => e ? reject(e) : resolve(s)))
  ack = await emit('ss-join', addr(port, idc), 'ab' + sig.toString('hex').slice(2))
  check(ack[0] === 'Signature Invalid', 'legacy server: a bad signature is refused', JSON.stringify(ack))
  ack = await emit('ss-join', addr(port, idc), sig.toString('hex'))
  check(ack[0] === null && ack[1] === null && Array.isArray(ack[2]), 'legacy server: signed join acked [null, null, [other addresses]]', JSON.stringify(ack).slice(0, 120))
  ack = await emit('ss-join', addr(port, idc), sig.toString('hex'))
  check(ack[0] === null && ack[1] === null, 'legacy server: replaying the same signed join is accepted again (nonce never cleared)', JSON.stringify(ack).slice(0, 60))
  ack = await emit('ss-dial', addr(port, ida), addr(port, idb), 'my-own-dial-id')
  check(ack[0] === 'Not authorized for this address', 'legacy server: ss-dial from an address this socket did not join', JSON.stringify(ack))
  const badKey = await emit('ss-join', addr(port, idb), '').catch((e) => [e.message])
  check(badKey[0] === 'Crypto Challenge required but no Id provided', 'legacy server: ss-join without a key', JSON.stringify(badKey))
  raw.close()
  await sleep(300)
  A.listener.close(); B.listener.close()
  await sleep(500)
  child.kill('SIGKILL')

  // name the sockets by the address they joined with
  const names = {}
  for (const l of lines) {
    const m = l.text && /^2\d*\["ss-join","([^"]+)"/.exec(l.text)
    if (m && !names[l.sid]) names[l.sid] = m[1].endsWith(ida.toB58String()) ? 'A' : m[1].endsWith(idb.toB58String()) ? 'B' : 'R'
  }
  const short = (s) => s
    .replaceAll(ida.toB58String(), '<idA>').replaceAll(idb.toB58String(), '<idB>').replaceAll(idc.toB58String(), '<idC>')
    .replace(/"(08001[0-9a-f]{40,})"/g, (_, h) => `"${h.slice(0, 24)}…(${h.length} hex chars)"`)
    .replace(/"([0-9a-f]{512})"/g, (_, h) => `"${h.slice(0, 16)}…(512 hex chars = RSA-2048 signature)"`)
  out('--- transcript (in = client->server, out = server->client; engine.io packet type, socket.io packet text)')
  for (const l of lines) {
    if (l.dir === 'upgrade') { out(`upgrade GET ${l.url}  headers: sec-websocket-extensions=${l.headers['sec-websocket-extensions'] || '-'} user-agent=${l.headers['user-agent'] || '-'}`); continue }
    if (l.type === 'ping' || l.type === 'pong') continue
    out(`${(names[l.sid] || l.sid).padEnd(2)} ${l.dir.padEnd(3)} ${l.type.padEnd(7)} ${l.binary !== undefined ? `<binary ${l.binary} bytes>` : short(l.text || '')}`)
  }
  out('--- end of transcript')
}

// ------------------------------------------------------------------ part 2: probe
/** protobuf PublicKey { Type = 1 (varint), Data = 2 (bytes) } -> { type, data } */
function decodeKeyProto (buf) {
  let i = 0; let type = null; let data = null
  const varint = () => { let v = 0; let s = 0; let b; do { b = buf[i++]; v += (b & 0x7f) * 2 ** s; s += 7 } while (b & 0x80); return v }
  while (i < buf.length) {
    const tag = varint()
    if (tag === 0x08) type = varint()
    else if (tag === 0x12) { const len = varint(); data = buf.subarray(i, i + len); i += len } else throw new Error('unexpected field ' + tag)
  }
  return { type, data }
}
const B58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'
function base58 (bytes) {
  let n = BigInt('0x' + Buffer.from(bytes).toString('hex'))
  let s = ''
  while (n > 0n) { s = B58[Number(n % 58n)] + s; n /= 58n }
  for (const b of bytes) { if (b === 0) s = '1' + s; else break }
  return s
}
/** legacy peer id of a marshalled public key: base58btc(sha2-256 multihash(protobuf bytes)) */
const legacyPeerId = (keyBytes) => base58(Buffer.concat([Buffer.from([0x12, 0x20]), nodeCrypto.createHash('sha256').update(keyBytes).digest()]))

/**
 * A minimal socket.io 4 server that legacy clients accept. behaviour switches:
 *  allowEIO3, challenge (false: ack the first ss-join with success), nonceOf(addr) (what the
 *  client is asked to sign), incomingAck (false: emit ss-incomming without an ack function),
 *  announce(addr) (spelling of ws-peer addresses)
 */
async function probeServer (behaviour = {}) {
  const { Server } = require('socket.io-v4')
  const b = { allowEIO3: true, challenge: true, incomingAck: true, nonceOf: () => nodeCrypto.randomUUID() + nodeCrypto.randomUUID(), announce: (a) => a, ...behaviour }
  const port = await freePort()
  const io = new Server(port, { allowEIO3: b.allowEIO3, transports: ['websocket'], serveClient: false, pingInterval: 300, pingTimeout: 2000 })
  const log = []
  const peers = new Map() // address -> socket
  io.on('connection', (socket) => {
    log.push({ ev: 'connection', eio: socket.conn.protocol, query: socket.handshake.query })
    socket.conn.on('packet', (p) => { if (p.type === 'ping' || p.type === 'pong') log.push({ ev: 'engine.io ' + p.type + ' from client' }) })
    socket.conn.on('packetCreate', (p) => { if (p.type === 'ping' || p.type === 'pong') log.push({ ev: 'engine.io ' + p.type + ' to client' }) })
    const pending = new Map() // address -> { nonce, key }
    socket.on('ss-join', (address, keyOrSig, ack) => {
      log.push({ ev: 'ss-join', args: [typeof address, typeof keyOrSig, typeof ack], address, keyOrSig })
      if (typeof ack !== 'function') return
      const finish = () => {
        peers.set(address, socket)
        socket.data.addresses = [...(socket.data.addresses || []), address]
        for (const [other, s] of peers) if (other !== address) s.emit('ws-peer', b.announce(address))
        ack(null, null, [...peers.keys()].filter((a) => a !== address).map(b.announce))
      }
      if (!b.challenge) return finish()
      const p = pending.get(address)
      if (!p) {
        const keyBytes = Buffer.from(keyOrSig, 'hex')
        const { type, data } = decodeKeyProto(keyBytes)
        const idInAddr = address.split('/').pop()
        if (legacyPeerId(keyBytes) !== idInAddr) return ack('Id is not matching')
        if (type !== 0) return ack('only RSA in this probe')
        const key = nodeCrypto.createPublicKey({ key: data, format: 'der', type: 'spki' })
        const nonce = b.nonceOf(address)
        pending.set(address, { nonce, key })
        log.push({ ev: 'challenge', keyType: type, nonce })
        return ack(null, nonce)
      }
      pending.delete(address)
      const ok = nodeCrypto.verify('sha256', Buffer.from(p.nonce, 'utf8'), { key: p.key, padding: nodeCrypto.constants.RSA_PKCS1_PADDING }, Buffer.from(keyOrSig, 'hex'))
      log.push({ ev: 'verify', ok, sigHexChars: keyOrSig.length })
      if (!ok) return ack('Signature Invalid')
      finish()
    })
    socket.on('ss-dial', (from, to, dialId, ack) => {
      log.push({ ev: 'ss-dial', args: [typeof from, typeof to, typeof dialId, typeof ack], dialId })
      if (!(socket.data.addresses || []).includes(from)) return ack('Not authorized for this address')
      const callee = peers.get(to)
      if (!callee) return ack('Peer not found')
      // relay every pull-stream event of this dial to the other side: queue/error of
      // <dialId>.dialer and accept of <dialId>.listener go caller -> callee, the rest back
      const route = (src, dst) => src.onAny((event, ...args) => {
        if (typeof event === 'string' && event.startsWith('socket.io-pull-stream.') && event.includes('.' + dialId + '.')) dst.emit(event, ...args)
      })
      const answered = (...ackArgs) => {
        const err = ackArgs[0]
        log.push({ ev: 'ss-incomming ack', args: ackArgs })
        if (err) return ack(err)
        ack()
      }
      route(socket, callee)
      route(callee, socket)
      if (b.incomingAck) callee.emit('ss-incomming', dialId, from, answered)
      else callee.emit('ss-incomming', dialId, from)
    })
    socket.onAny((event, ...args) => {
      if (event.startsWith('socket.io-pull-stream.')) log.push({ ev: event.replace(/[0-9a-f-]{36}/, '<dialId>'), args: args.map((a) => Buffer.isBuffer(a) ? `<Buffer ${a.length}>` : a) })
      else if (!['ss-join', 'ss-dial'].includes(event)) log.push({ ev: 'other: ' + event, args })
    })
    socket.on('disconnect', (reason) => {
      log.push({ ev: 'disconnect', reason })
      for (const a of socket.data.addresses || []) if (peers.get(a) === socket) peers.delete(a)
    })
  })
  return { port, io, log, close: () => new Promise((resolve) => io.close(() => resolve())) }
}

async function probe () {
  out('== part 2: real legacy clients <-> a from-scratch socket.io 4 server (not the legacy code)')
  const ids = await createPeerIds(8)

  // 2a. without allowEIO3 the v2 client cannot even connect
  {
    const s = await probeServer({ allowEIO3: false })
    const A = legacyClient(ids[0])
    const err = await timeout(A.listen(addr(s.port, ids[0])).then(() => null, (e) => e.message || String(e)), 8000, 'join').catch((e) => e.message)
    check(err !== null, 'socket.io 4 WITHOUT allowEIO3: legacy client cannot join', JSON.stringify(err))
    A.listener.close(); await s.close()
  }

  // 2b. the full happy path with allowEIO3
  {
    const s = await probeServer()
    const A = legacyClient(ids[0]); const B = legacyClient(ids[1])
    await B.listen(addr(s.port, ids[1]))
    await A.listen(addr(s.port, ids[0]))
    await sleep(200)
    check(B.peers.includes(addr(s.port, ids[0])) && A.peers.includes(addr(s.port, ids[1])), 'allowEIO3: join (challenge over the raw nonce) + discovery (ws-peer and the join ack list)')
    const connA = await A.dial(addr(s.port, ids[1]))
    await sleep(100)
    const [gotA, gotB] = await Promise.all([exchange(connA, 'data from A'), answer(B.incoming[0], 'data from B')])
    check(gotA === 'data from B' && gotB === 'data from A', 'allowEIO3: dial + bytes both ways + end, relayed by event name')
    const big = nodeCrypto.randomBytes(3 * 1024 * 1024)
    const connA2 = await A.dial(addr(s.port, ids[1]))
    await sleep(100)
    const recv = new Promise((resolve, reject) => pull(B.incoming[1], pull.collect((e, bufs) => e ? reject(e) : resolve(Buffer.concat(bufs)))))
    const chunks = []
    for (let o = 0; o < big.length; o += 900000) chunks.push(big.subarray(o, o + 900000))
    pull(pull.values(chunks), connA2)
    pull(pull.empty(), B.incoming[1])
    pull(connA2, pull.drain())
    const got = await timeout(recv, 10000, '3 MiB')
    check(got.equals(big), 'allowEIO3: 3 MiB in 0.9 MB chunks arrives intact')
    // one chunk above the 1e6-byte frame cap: the server drops the sender's whole socket;
    // the 0.10.2 client reconnects by itself and re-joins with a fresh challenge
    const connA3 = await A.dial(addr(s.port, ids[1]))
    pull(pull.values([nodeCrypto.randomBytes(1000001)]), connA3)
    pull(connA3, pull.drain(() => {}, () => {}))
    await sleep(1500)
    const disc = s.log.filter((e) => e.ev === 'disconnect').map((e) => e.reason)
    const rejoined = s.log.filter((e) => e.ev === 'verify').length
    check(disc.includes('transport error') && rejoined === 3, 'a 1,000,001-byte chunk exceeds maxHttpBufferSize (1e6): sender socket dropped, client reconnects and re-joins with a new challenge', `disconnect reasons ${JSON.stringify(disc)}, verified joins ${rejoined}`)
    const pings = new Set(s.log.filter((e) => e.ev.startsWith('engine.io ')).map((e) => e.ev))
    check(pings.has('engine.io ping from client') && pings.has('engine.io pong to client') && !pings.has('engine.io ping to client'), 'Engine.IO 3 heartbeat: the client sends ping, the server answers pong', JSON.stringify([...pings]))
    out('--- what the probe server saw (first dial)')
    let dials = 0
    for (const e of s.log) {
      if (e.ev === 'ss-dial' && ++dials > 1) break
      if (e.ev.startsWith('engine.io ')) continue
      out('  ' + JSON.stringify(e).replace(/"[0-9a-f]{200,}"/g, (h) => `"<${h.length - 2} hex chars>"`).slice(0, 300))
    }
    A.listener.close(); B.listener.close(); await s.close()
  }

  // 2c. the client signs whatever string the server sends as the "nonce"
  {
    const evil = 'wsstar/2 join\n/anything/the/server/wants\n' + nodeCrypto.randomUUID()
    const s = await probeServer({ nonceOf: () => evil })
    const A = legacyClient(ids[2])
    await A.listen(addr(s.port, ids[2]))
    const v = s.log.find((e) => e.ev === 'verify')
    check(v && v.ok, 'client signs an arbitrary server-chosen string (RSASSA-PKCS1-v1_5 + SHA-256 over its UTF-8 bytes)', JSON.stringify(evil))
    A.listener.close(); await s.close()
  }

  // 2d. no challenge: the client refuses (unless allowJoinWithDisabledChallenge)
  {
    const s = await probeServer({ challenge: false })
    const A = legacyClient(ids[3])
    const err = await A.listen(addr(s.port, ids[3])).then(() => null, (e) => e.message)
    check(err && /crypto challenge disabled/.test(err), 'server that does not challenge: client refuses to listen', JSON.stringify(err && err.split('\n')[0]))
    A.listener.close(); await s.close()
  }

  // 2e. ss-incomming without an ack function: the callee drops it, the dial never completes
  {
    const s = await probeServer({ incomingAck: false })
    const A = legacyClient(ids[4]); const B = legacyClient(ids[5])
    await B.listen(addr(s.port, ids[5])); await A.listen(addr(s.port, ids[4]))
    const r = await timeout(A.dial(addr(s.port, ids[5])).then(() => 'connected', (e) => e.message), 2000, 'dial').catch((e) => e.message)
    check(/no answer/.test(r) && B.incoming.length === 0, 'ss-incomming without ack: callee ignores it, dial hangs (client has no dial timeout)', r)
    A.listener.close(); B.listener.close(); await s.close()
  }

  // 2f. announcing /p2p/ spellings to a legacy client
  {
    const s = await probeServer({ announce: (a) => a.replace('/ipfs/', '/p2p/') })
    const A = legacyClient(ids[6]); const B = legacyClient(ids[7])
    const uncaught = []
    const onUncaught = (e) => uncaught.push(e.message)
    process.on('uncaughtException', onUncaught)
    await timeout(B.listen(addr(s.port, ids[7])), 3000, 'B listen').catch((e) => uncaught.push('B listen: ' + e.message))
    await timeout(A.listen(addr(s.port, ids[6])), 3000, 'A listen').catch((e) => uncaught.push('A listen: ' + e.message))
    await sleep(300)
    process.off('uncaughtException', onUncaught)
    check(uncaught.length > 0 || A.peers.length === 0, 'ws-peer / join-ack with /p2p/ spelling breaks legacy discovery', JSON.stringify(uncaught.slice(0, 2)))
    A.listener.close(); B.listener.close(); await s.close()
  }
}

;(async () => {
  if (part === 'observe' || part === 'all') await observe()
  if (part === 'probe' || part === 'all') await probe()
  out(`wire-observer: ${failures === 0 ? 'all checks passed' : failures + ' check(s) failed'}`)
  process.exit(failures ? 1 : 0)
})().catch((e) => { out('wire-observer failed: ' + (e && e.stack)); process.exit(1) })
