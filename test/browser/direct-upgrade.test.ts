/**
 * The direct WebRTC upgrade in a real headless Chromium, through the upgrade
 * example page (examples/browser/upgrade.html): browser ↔ browser (two pages
 * of one Chromium) and browser ↔ Node.js (a libp2p node in this process, its
 * WebRTC from node-datachannel through libdatachannelRtcConfiguration). Two
 * peers meet through the example's rendezvous server, the dialling side
 * upgrades, then 8 MiB go over the direct connection (sha256 computed by the
 * receiver) while the server's relayed-bytes counter, read from its /metrics,
 * stays where it was. With no usable ICE candidates the upgrade fails, both
 * sides stay relayed, and the same transfers go through the server.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { relayedConnectionOf } from '@wsstar/transport'
import nodeDataChannel from 'node-datachannel'
import { pEvent } from 'p-event'
import { waitFor } from '../helpers/wait.js'
import { hashingSink, transferVerified } from '../helpers/streams.js'
import { chromium, defaultRoute, requires } from '../helpers/system-components.js'
import { LOOPBACK_RTC, createUpgradeNode } from '../helpers/upgrade-nodes.js'
import { launchChromium } from './chromium.js'
import { startExampleApp } from './example-app.js'
import { SINK_PROTOCOL, TRANSFER_BYTES, carrierIs, connectTo, openUpgradePage, receivedTransfer, relayedBytes, sendTransfer, upgradeLog, upgradeState } from './upgrade-page.js'
import type { UpgradeNode } from '../helpers/upgrade-nodes.js'
import type { Chromium } from './chromium.js'
import type { ExampleApp } from './example-app.js'
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import type { DirectUpgradeDirectDetail, DirectUpgradeFailedDetail } from '@wsstar/transport'
import type { Page } from 'playwright-core'

/** short grace: the relayed connection is retired (and quiet) before the transfers are measured */
const DIRECT = '&grace=500'
/** relay-only ICE without a TURN server on the page: no candidate at all; short tries (two of them) */
const NO_CANDIDATES = '&ice=none&timeout=3000'
/** how long after the failure the answering page may keep the dead WebRTC connection: its timeout (3 s) and slack */
const PROBE_BOUND = 8_000

function isRelayed (c: Connection): boolean {
  return relayedConnectionOf(c) != null
}

function connectionOf (node: UpgradeNode, peer: PeerId, stream: Stream): Connection | undefined {
  return node.getConnections(peer).find(c => c.streams.includes(stream))
}

describe('browser direct upgrade (headless Chromium)', { skip: requires('browser direct-upgrade suite', chromium, defaultRoute), timeout: 600_000 }, () => {
  let app: ExampleApp
  let browser: Chromium
  let pages: Page[] = []
  let nodes: UpgradeNode[] = []

  before(async () => {
    browser = await launchChromium()
    app = await startExampleApp()
  })

  after(async () => {
    await browser?.close()
    await app?.close()
    // libdatachannel's threads would otherwise hold the process at exit
    nodeDataChannel.cleanup()
  })

  async function tab (name: string): Promise<Page> {
    const page = await browser.newPage(name)
    pages.push(page)
    return page
  }

  async function node (options: Parameters<typeof createUpgradeNode>[0]): Promise<UpgradeNode> {
    // once, in a full npm test on 2 busy cores, the Node.js side reset a page's 8 MiB relayed
    // transfer: most likely libp2p's keep-alive aborting the relayed connection, its ping
    // queued behind the transfer past its 5 s (that abort is logged in other files' runs;
    // bench/README.md, "Keep-alive pings"); the pages keep libp2p's default
    const n = await createUpgradeNode({ abortOnPingFailure: false, ...options })
    nodes.push(n)
    await n.handle(SINK_PROTOCOL, hashingSink)
    return n
  }

  async function cleanUp (): Promise<void> {
    await Promise.allSettled(pages.map(async p => { await p.close() }))
    await Promise.allSettled(nodes.map(async n => { await n.stop() }))
    pages = []
    nodes = []
  }

  it('two pages: the dialling page upgrades to direct WebRTC; 8 MiB go over it, sha256 checked by the receiving page, and the server relays none of it', { timeout: 120_000 }, async () => {
    try {
      const alice = await tab('alice')
      const bob = await tab('bob')
      const aliceId = await openUpgradePage(alice, app, DIRECT)
      const bobId = await openUpgradePage(bob, app, DIRECT)

      await connectTo(alice, bobId)
      assert.equal(await upgradeState(alice, bobId, ['direct', 'failed'], 30_000), 'direct', await upgradeLog(alice))
      await upgradeState(alice, bobId, ['retired'], 20_000)
      await carrierIs(alice, bobId, 'direct', 5_000)
      await carrierIs(bob, aliceId, 'direct', 10_000)
      const log = await upgradeLog(alice)
      assert.match(log, /upgrade started/)
      assert.match(log, /direct WebRTC connection up after \d+ ms/)
      assert.match(log, /relayed connection retired/)

      const before = await relayedBytes(app)
      const sent = await sendTransfer(alice, bobId)
      assert.deepEqual(sent, { direction: 'out', carrier: 'direct', bytes: TRANSFER_BYTES, sha256: sent.sha256, verified: true })
      const received = await receivedTransfer(bob, aliceId)
      assert.deepEqual(received, { direction: 'in', carrier: 'direct', bytes: TRANSFER_BYTES, sha256: sent.sha256 })
      assert.equal(await relayedBytes(app), before, 'no byte of the 8 MiB went through the server')
    } finally {
      await cleanUp()
    }
  })

  it('a page dials a Node.js node: upgrade; 8 MiB page → Node.js over WebRTC, sha256 checked by Node.js; the server relays none of it', { timeout: 120_000 }, async () => {
    try {
      const peer = await node({ listen: [app.serverAddr] })
      const nodeId = peer.peerId.toString()
      const page = await tab('dialler')
      const pageId = await openUpgradePage(page, app, DIRECT)

      await connectTo(page, nodeId)
      assert.equal(await upgradeState(page, nodeId, ['direct', 'failed'], 30_000), 'direct', await upgradeLog(page))
      await upgradeState(page, nodeId, ['retired'], 20_000)
      await waitFor(() => {
        const connections = peer.getConnections(peerIdFromString(pageId))
        return connections.length > 0 && connections.every(c => !isRelayed(c))
      }, 10_000)

      const before = await relayedBytes(app)
      const sent = await sendTransfer(page, nodeId)
      // verified: Node.js's hashingSink answered the same sha256 and byte count the page sent
      assert.deepEqual(sent, { direction: 'out', carrier: 'direct', bytes: TRANSFER_BYTES, sha256: sent.sha256, verified: true })
      assert.equal(await relayedBytes(app), before, 'no byte of the 8 MiB went through the server')
    } finally {
      await cleanUp()
    }
  })

  it('a Node.js node dials a page (Node.js makes the WebRTC offer): upgrade; 8 MiB Node.js → page over WebRTC, sha256 checked by the page; the server relays none of it', { timeout: 120_000 }, async () => {
    try {
      const page = await tab('callee')
      const pageId = await openUpgradePage(page, app)
      const peer = await node({ listen: [app.serverAddr], upgrade: { grace: 500 } })
      const pagePeer = peerIdFromString(pageId)
      const direct = pEvent<'direct', CustomEvent<DirectUpgradeDirectDetail>>(peer.services.directUpgrade, 'direct', { timeout: 30_000 })
      const retired = pEvent(peer.services.directUpgrade, 'retired', { timeout: 30_000 })

      await peer.dial(multiaddr(`${app.serverAddr}/p2p/${pageId}`), { signal: AbortSignal.timeout(15_000) })
      const { detail } = await direct
      await retired
      await carrierIs(page, peer.peerId.toString(), 'direct', 10_000)

      const before = await relayedBytes(app)
      const stream = await peer.dialProtocol(pagePeer, SINK_PROTOCOL, { signal: AbortSignal.timeout(10_000) })
      assert.equal(connectionOf(peer, pagePeer, stream), detail.direct)
      // the page hashes what it got and answers; transferVerified compares with what was sent
      await transferVerified(stream, TRANSFER_BYTES)
      const received = await receivedTransfer(page, peer.peerId.toString())
      assert.equal(received.carrier, 'direct')
      assert.equal(received.bytes, TRANSFER_BYTES)
      assert.equal(await relayedBytes(app), before, 'no byte of the 8 MiB went through the server')
    } finally {
      await cleanUp()
    }
  })

  it('no usable candidates on either page: the upgrade fails, both pages stay relayed, and 8 MiB each way go through the server', { timeout: 120_000 }, async () => {
    try {
      const alice = await tab('alice')
      const bob = await tab('bob')
      const aliceId = await openUpgradePage(alice, app, NO_CANDIDATES)
      const bobId = await openUpgradePage(bob, app, NO_CANDIDATES)

      await connectTo(alice, bobId)
      assert.equal(await upgradeState(alice, bobId, ['direct', 'failed'], 30_000), 'failed', await upgradeLog(alice))
      assert.match(await upgradeLog(alice), /upgrade failed \(DirectUpgradeTimeoutError\): staying relayed through the server/)
      await carrierIs(alice, bobId, 'relayed', 5_000)
      // bob answered two failed tries: the WebRTC connections @libp2p/webrtc opened for them go
      // (its service closes them when they do not answer within its timeout, 3 s)
      await carrierIs(bob, aliceId, 'relayed', PROBE_BOUND)

      const before = await relayedBytes(app)
      const sent = await sendTransfer(alice, bobId)
      assert.deepEqual(sent, { direction: 'out', carrier: 'relayed', bytes: TRANSFER_BYTES, sha256: sent.sha256, verified: true })
      assert.deepEqual(await receivedTransfer(bob, aliceId), { direction: 'in', carrier: 'relayed', bytes: TRANSFER_BYTES, sha256: sent.sha256 })
      const middle = await relayedBytes(app)
      assert.ok(middle - before >= TRANSFER_BYTES, `the server relayed ${middle - before} bytes`)

      // and back, from the page that answered the failed tries
      const back = await sendTransfer(bob, aliceId)
      assert.deepEqual(back, { direction: 'out', carrier: 'relayed', bytes: TRANSFER_BYTES, sha256: back.sha256, verified: true })
      assert.equal((await receivedTransfer(alice, bobId)).sha256, back.sha256)
      assert.ok(await relayedBytes(app) - middle >= TRANSFER_BYTES)
    } finally {
      await cleanUp()
    }
  })

  it('no usable candidates between a Node.js node and a page: the upgrade fails, both stay relayed, and 8 MiB each way go through the server', { timeout: 120_000 }, async () => {
    try {
      const page = await tab('callee')
      const pageId = await openUpgradePage(page, app, NO_CANDIDATES)
      const peer = await node({ listen: [app.serverAddr], webrtc: { ...LOOPBACK_RTC, iceTransportPolicy: 'relay' }, upgrade: { timeout: 3000, attempts: 1 } })
      const nodeId = peer.peerId.toString()
      const pagePeer = peerIdFromString(pageId)
      const failed = pEvent<'failed', CustomEvent<DirectUpgradeFailedDetail>>(peer.services.directUpgrade, 'failed', { timeout: 30_000 })

      const relayed = await peer.dial(multiaddr(`${app.serverAddr}/p2p/${pageId}`), { signal: AbortSignal.timeout(15_000) })
      assert.equal((await failed).detail.error.name, 'DirectUpgradeTimeoutError')
      assert.deepEqual(peer.getConnections(pagePeer), [relayed])
      // the page answered the failed try: its service closes the WebRTC connection @libp2p/webrtc
      // opened for it when it does not answer within the timeout, 3 s (without that check it stayed
      // open for more than PROBE_BOUND: seen with the check taken out)
      await carrierIs(page, nodeId, 'relayed', PROBE_BOUND)

      const before = await relayedBytes(app)
      const stream = await peer.dialProtocol(pagePeer, SINK_PROTOCOL, { signal: AbortSignal.timeout(10_000) })
      assert.equal(connectionOf(peer, pagePeer, stream), relayed)
      await transferVerified(stream, TRANSFER_BYTES)
      assert.equal((await receivedTransfer(page, nodeId)).carrier, 'relayed')
      const middle = await relayedBytes(app)
      assert.ok(middle - before >= TRANSFER_BYTES, `the server relayed ${middle - before} bytes`)

      const back = await sendTransfer(page, nodeId)
      assert.deepEqual(back, { direction: 'out', carrier: 'relayed', bytes: TRANSFER_BYTES, sha256: back.sha256, verified: true })
      assert.ok(await relayedBytes(app) - middle >= TRANSFER_BYTES)
    } finally {
      await cleanUp()
    }
  })
})
