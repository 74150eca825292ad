// A js-libp2p 3 node in the browser that listens through a wsstar rendezvous
// server, lists the peers it discovers there, and chats with them over
// `/wsstar-example/chat/1.0.0` streams. Bundled by build.mjs (esbuild).
import { identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { ping } from '@libp2p/ping'
import { yamux } from '@libp2p/yamux'
import { webSocketStar } from '@wsstar/transport'
import { createLibp2p } from 'libp2p'

const CHAT_PROTOCOL = '/wsstar-example/chat/1.0.0'
const MAX_MESSAGE_BYTES = 4096

// The rendezvous server: `?server=<multiaddr>`, else the one `npm run example`
// starts next to this page. A production page names a public wss server:
//   /dns4/star.example.com/tcp/443/wss/p2p-websocket-star
const server = new URLSearchParams(location.search).get('server') ??
  `/${/^[\d.]+$/.test(location.hostname) ? 'ip4' : 'dns4'}/${location.hostname}/tcp/13579/ws/p2p-websocket-star`

const $ = (id) => document.getElementById(id)
/** discovered peers: peer id string -> { id: PeerId, item: <li> } */
const peers = new Map()
let selected

async function main () {
  const wsstar = webSocketStar()
  const node = await createLibp2p({
    addresses: { listen: [server] },
    transports: [wsstar.transport],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    // In browsers libp2p refuses to dial plain `ws` and private or loopback
    // addresses. A local dev server is both, so allow every address here.
    // In production use a public `wss` server and leave the default gater.
    connectionGater: { denyDialMultiaddr: () => false },
    services: {
      identify: identify(),
      ping: ping(),
      discovery: wsstar.discovery // peers on the server become `peer:discovery` events
    }
  })
  globalThis.libp2p = node // for the devtools console

  $('peer-id').textContent = node.peerId.toString()
  const showAddrs = () => {
    const addrs = node.getMultiaddrs().map(String)
    $('addrs').replaceChildren(...addrs.map(a => el('li', a)))
    setStatus(addrs.length > 0 ? 'online' : 'connecting to the server…', addrs.length > 0 ? 'ok' : '')
  }
  node.addEventListener('self:peer:update', showAddrs)
  showAddrs()

  node.addEventListener('peer:discovery', ({ detail }) => { addPeer(node, detail.id) })
  node.addEventListener('peer:update', ({ detail: { peer } }) => {
    // the server said this peer left: the transport removed its wsstar address
    if (peers.has(peer.id.toString()) && !peer.addresses.some(a => a.multiaddr.toString().includes('/p2p-websocket-star'))) {
      removePeer(peer.id.toString())
    }
  })
  node.addEventListener('connection:open', ({ detail }) => { markConnected(node, detail.remotePeer) })
  node.addEventListener('connection:close', ({ detail }) => { markConnected(node, detail.remotePeer) })

  // incoming chat: one message per stream, read to the end, then close our side
  await node.handle(CHAT_PROTOCOL, async (stream, connection) => {
    const text = await readText(stream, MAX_MESSAGE_BYTES)
    addPeer(node, connection.remotePeer)
    log('in', connection.remotePeer, text)
    await stream.close()
  })

  $('chat').addEventListener('submit', async (event) => {
    event.preventDefault()
    const text = $('message').value.trim()
    if (text === '' || selected == null) return
    $('message').value = ''
    try {
      await sendText(node, peers.get(selected).id, text)
      log('out', peers.get(selected).id, text)
    } catch (err) {
      log('error', peers.get(selected)?.id, `could not send: ${err.message}`)
    }
  })
}

/** Dial a peer through the server and measure the round trip with ping. */
async function connect (node, peerId) {
  try {
    log('info', peerId, 'dialling…')
    await node.dial(peerId)
    const rtt = await node.services.ping.ping(peerId)
    log('info', peerId, `connected, ping ${rtt} ms`)
  } catch (err) {
    log('error', peerId, `dial failed: ${err.message}`)
  }
}

/** One chat message: open a stream, write, half-close, wait for the other side to close. */
async function sendText (node, peerId, text) {
  const stream = await node.dialProtocol(peerId, CHAT_PROTOCOL)
  stream.send(new TextEncoder().encode(text))
  await stream.close()
  for await (const _ of stream) { /* the receiver sends nothing; this ends when it closes */ }
}

async function readText (stream, maxBytes) {
  const decoder = new TextDecoder()
  let text = ''
  let size = 0
  for await (const chunk of stream) {
    size += chunk.byteLength
    if (size > maxBytes) {
      stream.abort(new Error('message too long'))
      throw new Error('message too long')
    }
    text += decoder.decode(chunk.subarray(), { stream: true })
  }
  return text + decoder.decode()
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
  const item = el('li', name, button)
  item.dataset.peerId = key
  item.addEventListener('click', (event) => { if (event.target !== button) select(key) })
  peers.set(key, { id: peerId, item })
  $('peers').append(item)
  $('no-peers').hidden = true
  markConnected(node, peerId)
  if (selected == null) select(key)
}

function removePeer (key) {
  peers.get(key)?.item.remove()
  peers.delete(key)
  $('no-peers').hidden = peers.size > 0
  if (selected === key) select([...peers.keys()][0])
}

function markConnected (node, peerId) {
  const peer = peers.get(peerId.toString())
  if (peer == null) return
  peer.item.classList.toggle('connected', node.getConnections(peerId).length > 0)
}

function select (key) {
  selected = key
  for (const [k, { item }] of peers) item.classList.toggle('selected', k === key)
  $('target').textContent = key == null ? 'nobody yet' : short(key)
  $('send').disabled = key == null
}

function log (kind, peerId, text) {
  const arrow = { in: '←', out: '→', info: '·', error: '!' }[kind]
  const item = el('li', el('span', `${arrow} ${peerId == null ? '' : short(peerId.toString())}`), ` ${text}`)
  item.className = kind
  $('log').append(item)
  item.scrollIntoView({ block: 'nearest' })
}

function setStatus (text, className = '') {
  $('status').textContent = text
  $('status').className = className
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
