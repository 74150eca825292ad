// A js-libp2p 3 node in the browser that meets peers through a wsstar
// rendezvous server and moves every connection it dials there to a direct
// WebRTC connection (`directUpgrade()` + `webRTC()`), showing the upgrade as
// it happens (started, direct, or failed → stays relayed; retired) and which
// connection carries a transfer. Bundled by build.mjs (esbuild).
//
// Page options (query string):
//   ?server=<multiaddr>    the rendezvous server (default: the one `npm run example` starts)
//   ?ice=stun:host:3478    ICE servers, comma-separated; default none (host candidates: one machine or one LAN)
//   ?ice=none              relay-only ICE and no TURN server: no candidate at all, so upgrades fail (the fallback)
//   ?upgrade=off           this page never starts an upgrade (it still answers one)
//   ?timeout=<ms>          how long one upgrade try may take (directUpgrade's `timeout`)
//   ?grace=<ms>            how long the relayed connection stays after the direct one is up (`grace`)
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { webRTC } from '@libp2p/webrtc'
import { yamux } from '@libp2p/yamux'
import { directUpgrade, relayedConnectionOf, webSocketStar } from '@wsstar/transport'
import { createLibp2p } from 'libp2p'

/** one transfer per stream: the sender writes, half-closes; the receiver answers `<sha256 hex> <bytes>` */
const SINK_PROTOCOL = '/wsstar-example/sink/1.0.0'
const TRANSFER_BYTES = 8 * 1024 * 1024
const CHUNK_BYTES = 64 * 1024
const MAX_RECEIVE_BYTES = 64 * 1024 * 1024
const DRAIN_TIMEOUT = 30_000

const params = new URLSearchParams(location.search)
const server = params.get('server') ??
  `/${/^[\d.]+$/.test(location.hostname) ? 'ip4' : 'dns4'}/${location.hostname}/tcp/13579/ws/p2p-websocket-star`
const ice = params.get('ice') ?? ''
const rtcConfiguration = ice === 'none'
  ? { iceServers: [], iceTransportPolicy: 'relay' }
  : { iceServers: ice === '' ? [] : ice.split(',').map(urls => ({ urls })) }
const upgradeOptions = {
  enabled: params.get('upgrade') !== 'off',
  ...(params.has('timeout') ? { timeout: Number(params.get('timeout')) } : {}),
  ...(params.has('grace') ? { grace: Number(params.get('grace')) } : {})
}

const $ = (id) => document.getElementById(id)
/** discovered peers: peer id string -> { id: PeerId, item: <li> } */
const peers = new Map()
let selected

async function main () {
  const wsstar = webSocketStar()
  const node = await createLibp2p({
    addresses: { listen: [server] },
    transports: [
      wsstar.transport,
      // webRTC() needs the circuit-relay transport and identify as service dependencies
      circuitRelayTransport(),
      webRTC({ rtcConfiguration })
    ],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    // a local dev server is plain `ws` on loopback, which libp2p refuses to dial
    // in browsers; production pages use a public `wss` server and the default gater
    connectionGater: { denyDialMultiaddr: () => false },
    services: {
      identify: identify(),
      discovery: wsstar.discovery,
      directUpgrade: directUpgrade(upgradeOptions)
    }
  })
  globalThis.libp2p = node // for the devtools console

  $('peer-id').textContent = node.peerId.toString()
  $('settings').textContent = `upgrade ${upgradeOptions.enabled ? 'on' : 'off'}; ICE ${ice === 'none' ? 'none (relay-only, no TURN server: no candidates)' : ice === '' ? 'host candidates only' : ice}`
  const showAddrs = () => {
    const addrs = node.getMultiaddrs().map(String)
    $('addrs').replaceChildren(...addrs.map(a => el('li', a)))
    setStatus(addrs.length > 0 ? 'online' : 'connecting to the server…', addrs.length > 0 ? 'ok' : '')
  }
  node.addEventListener('self:peer:update', showAddrs)
  showAddrs()

  node.addEventListener('peer:discovery', ({ detail }) => { addPeer(node, detail.id) })
  node.addEventListener('peer:update', ({ detail: { peer } }) => {
    if (peers.has(peer.id.toString()) && !peer.addresses.some(a => a.multiaddr.toString().includes('/p2p-websocket-star'))) {
      removePeer(peer.id.toString())
    }
  })
  node.addEventListener('connection:open', ({ detail }) => {
    addPeer(node, detail.remotePeer)
    log(kind(detail) === 'direct' ? 'direct' : 'info', detail.remotePeer, `${describe(detail)} opened (${detail.direction})`)
    showConnections(node, detail.remotePeer)
  })
  node.addEventListener('connection:close', ({ detail }) => {
    log('info', detail.remotePeer, `${describe(detail)} closed`)
    showConnections(node, detail.remotePeer)
  })

  // the upgrade as the service reports it (on the page that dialled)
  const upgrade = node.services.directUpgrade
  upgrade.addEventListener('started', ({ detail }) => {
    setUpgrade(detail.peer, 'started')
    // the service starts from its own connection:open listener, which runs before
    // this page's: log after the page has logged the relayed connection
    queueMicrotask(() => { log('info', detail.peer, 'upgrade started: signalling WebRTC over the relayed connection') })
  })
  upgrade.addEventListener('direct', ({ detail }) => {
    setUpgrade(detail.peer, 'direct')
    log('direct', detail.peer, `direct WebRTC connection up after ${detail.duration} ms: new streams use it`)
  })
  upgrade.addEventListener('failed', ({ detail }) => {
    setUpgrade(detail.peer, 'failed')
    log('error', detail.peer, `upgrade failed (${detail.error.name}): staying relayed through the server`)
  })
  upgrade.addEventListener('retired', ({ detail }) => {
    setUpgrade(detail.peer, 'retired')
    log('info', detail.peer, `relayed connection retired; it carried ${detail.bytesAfterUpgrade} bytes after the upgrade`)
  })

  await node.handle(SINK_PROTOCOL, async (stream, connection) => {
    const started = performance.now()
    const data = await readAll(stream, MAX_RECEIVE_BYTES)
    const sha256 = await sha256Hex(data)
    stream.send(new TextEncoder().encode(`${sha256} ${data.byteLength}`))
    await stream.close()
    addTransfer({ direction: 'in', peer: connection.remotePeer, bytes: data.byteLength, carrier: kind(connection), sha256, ms: performance.now() - started })
  }, { maxInboundStreams: 4 })

  $('send').addEventListener('click', () => {
    if (selected != null) void sendTransfer(node, peers.get(selected).id)
  })
  setInterval(() => { for (const { id } of peers.values()) showConnections(node, id) }, 500)
}

/** Dial through the server; the service starts the upgrade once the relayed connection is open. */
async function connect (node, peerId) {
  try {
    log('info', peerId, 'dialling through the server…')
    await node.dial(peerId)
  } catch (err) {
    log('error', peerId, `dial failed: ${err.message}`)
  }
}

/** 8 MiB of random bytes to the selected peer; the receiver's sha256 must match ours. */
async function sendTransfer (node, peerId) {
  try {
    const data = new Uint8Array(TRANSFER_BYTES)
    for (let i = 0; i < data.byteLength; i += 65536) crypto.getRandomValues(data.subarray(i, i + 65536))
    const expected = await sha256Hex(data)
    const started = performance.now()
    // a new stream goes over the newest open connection: the direct one once it is up
    const stream = await node.dialProtocol(peerId, SINK_PROTOCOL)
    const connection = node.getConnections(peerId).find(c => c.streams.includes(stream))
    const carrier = connection == null ? 'unknown' : kind(connection)
    const reply = readAll(stream, 1024)
    reply.catch(() => {}) // awaited below; when sending fails first, that error is the one reported
    for (let offset = 0; offset < data.byteLength; offset += CHUNK_BYTES) {
      if (!stream.send(data.subarray(offset, offset + CHUNK_BYTES))) await drained(stream)
    }
    await stream.close()
    const [sha256, bytes] = new TextDecoder().decode(await reply).split(' ')
    addTransfer({ direction: 'out', peer: peerId, bytes: Number(bytes), carrier, sha256, verified: sha256 === expected && Number(bytes) === data.byteLength, ms: performance.now() - started })
  } catch (err) {
    log('error', peerId, `transfer failed: ${err.message}`)
    addTransfer({ direction: 'out', peer: peerId, error: err.message })
  }
}

/**
 * The stream's next 'drain' event (stream.onDrain() of @libp2p/utils 7.4
 * resolves at once after the first drain), bounded by DRAIN_TIMEOUT.
 */
function drained (stream) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { done(); reject(new Error('no drain within 30 s')) }, DRAIN_TIMEOUT)
    const onDrain = () => { done(); resolve() }
    const onClose = (evt) => { done(); reject(evt.error ?? new Error('stream closed')) }
    const done = () => {
      clearTimeout(timer)
      stream.removeEventListener('drain', onDrain)
      stream.removeEventListener('close', onClose)
    }
    stream.addEventListener('drain', onDrain)
    stream.addEventListener('close', onClose)
  })
}

async function readAll (stream, maxBytes) {
  const chunks = []
  let size = 0
  for await (const chunk of stream) {
    size += chunk.byteLength
    if (size > maxBytes) {
      stream.abort(new Error('too much data'))
      throw new Error('too much data')
    }
    chunks.push(chunk.subarray())
  }
  const data = new Uint8Array(size)
  let offset = 0
  for (const c of chunks) {
    data.set(c, offset)
    offset += c.byteLength
  }
  return data
}

async function sha256Hex (data) {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', data))
  return Array.from(digest, b => b.toString(16).padStart(2, '0')).join('')
}

/** 'relayed' for a connection through the rendezvous server, 'direct' for any other (WebRTC here). */
function kind (connection) {
  return relayedConnectionOf(connection) != null ? 'relayed' : 'direct'
}

function describe (connection) {
  return kind(connection) === 'relayed' ? 'relayed connection (through the server)' : 'direct WebRTC connection'
}

// --- page -------------------------------------------------------------------

function addPeer (node, peerId) {
  const key = peerId.toString()
  if (peers.has(key) || peerId.equals(node.peerId)) return
  const button = el('button', 'connect')
  button.type = 'button'
  button.addEventListener('click', () => {
    select(key)
    void connect(node, peerId)
  })
  const name = el('span', short(key))
  name.title = key
  name.className = 'name'
  const state = el('span', '')
  state.className = 'state'
  const item = el('li', name, state, button)
  item.dataset.peerId = key
  item.addEventListener('click', (event) => { if (event.target !== button) select(key) })
  peers.set(key, { id: peerId, item })
  $('peers').append(item)
  $('no-peers').hidden = true
  showConnections(node, peerId)
  if (selected == null) select(key)
}

function removePeer (key) {
  peers.get(key)?.item.remove()
  peers.delete(key)
  $('no-peers').hidden = peers.size > 0
  if (selected === key) select([...peers.keys()][0])
}

/** What carries new streams to this peer now: 'direct', 'relayed' or 'none'. */
function showConnections (node, peerId) {
  const peer = peers.get(peerId.toString())
  if (peer == null) return
  const open = node.getConnections(peerId).filter(c => c.status === 'open')
  const carrier = open.some(c => kind(c) === 'direct') ? 'direct' : open.length > 0 ? 'relayed' : 'none'
  peer.item.dataset.carrier = carrier
  const relayedBytes = open.map(c => relayedConnectionOf(c)).filter(r => r != null).reduce((n, r) => n + r.bytesSent + r.bytesReceived, 0)
  peer.item.querySelector('.state').textContent = carrier === 'none'
    ? ''
    : carrier === 'direct'
      ? `direct${open.length > 1 ? ` (relayed one still open: ${fmtBytes(relayedBytes)})` : ''}`
      : `relayed: ${fmtBytes(relayedBytes)} through the server`
}

function setUpgrade (peerId, state) {
  const peer = peers.get(peerId.toString())
  if (peer != null) peer.item.dataset.upgrade = state
}

function select (key) {
  selected = key
  for (const [k, { item }] of peers) item.classList.toggle('selected', k === key)
  $('target').textContent = key == null ? 'nobody yet' : short(key)
  $('send').disabled = key == null
}

function addTransfer ({ direction, peer, bytes, carrier, sha256, verified, ms, error }) {
  const item = el('li')
  item.dataset.direction = direction
  item.dataset.peerId = peer.toString()
  if (error != null) {
    item.className = 'error'
    item.dataset.error = error
    item.textContent = `${direction === 'out' ? '→' : '←'} ${short(peer.toString())} failed: ${error}`
  } else {
    item.dataset.carrier = carrier
    item.dataset.bytes = String(bytes)
    item.dataset.sha256 = sha256
    if (verified != null) item.dataset.verified = String(verified)
    const how = carrier === 'direct' ? 'over the direct WebRTC connection' : 'through the server (relayed)'
    const check = verified == null ? '' : verified ? ', receiver’s sha256 matches ✓' : ', receiver’s sha256 DIFFERS ✗'
    item.append(el('span', `${direction === 'out' ? '→' : '←'} ${short(peer.toString())}`),
      ` ${direction === 'out' ? 'sent' : 'received'} ${fmtBytes(bytes)} ${how} in ${Math.round(ms)} ms, sha256 ${sha256.slice(0, 16)}…${check}`)
    item.className = carrier
  }
  $('transfers').append(item)
}

function log (type, peerId, text) {
  const item = el('li', el('span', short(peerId.toString())), ` ${text}`)
  item.className = type
  $('log').append(item)
  item.scrollIntoView({ block: 'nearest' })
}

function setStatus (text, className = '') {
  $('status').textContent = text
  $('status').className = className
}

function fmtBytes (n) {
  return n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`
}

function short (id) {
  return `${id.slice(0, 8)}…${id.slice(-6)}`
}

function el (tag, ...children) {
  const node = document.createElement(tag)
  node.append(...children)
  return node
}

$('server').textContent = server
main().catch((err) => {
  setStatus(`failed to start: ${err.message}`, 'error')
  console.error(err)
})
