/**
 * Browser peers in a real headless Chromium (Debian `chromium`, driven by
 * playwright-core), through the browser example (examples/browser): its page
 * is bundled with esbuild and served next to a rendezvous server on loopback.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { peerIdFromString } from '@libp2p/peer-id'
import { createNode } from '../helpers/nodes.js'
import { handleChat, sendChat as nodeSendChat } from './chat.js'
import { chromium, requires } from '../helpers/system-components.js'
import { launchChromium } from './chromium.js'
import { buildExampleBundle, connectAndPing, openExample, peerRow, receivedChat, sendChat, startExampleApp } from './example-app.js'
import { waitFor } from '../helpers/wait.js'
import type { TestNode } from '../helpers/nodes.js'
import type { Chromium } from './chromium.js'
import type { ExampleApp } from './example-app.js'
import type { Page } from 'playwright-core'

describe('browser (headless Chromium)', { skip: requires('browser suite', chromium), timeout: 90_000 }, () => {
  let app: ExampleApp
  let browser: Chromium
  const nodes: TestNode[] = []

  before(async () => {
    browser = await launchChromium()
    app = await startExampleApp()
  })

  after(async () => {
    await browser?.close()
    await Promise.allSettled(nodes.map(async n => { await n.stop() }))
    await app?.close()
  })

  async function page (name: string): Promise<Page> {
    return await browser.newPage(name)
  }

  it('the examples bundle for the browser without Node.js modules; the upgrade page takes the browser build of @libp2p/webrtc', async () => {
    const { files, inputs } = await buildExampleBundle()
    assert.ok((files.get('app.js')?.byteLength ?? 0) > 100_000, 'app.js holds libp2p and the transport')
    assert.ok((files.get('upgrade.js')?.byteLength ?? 0) > 100_000, 'upgrade.js holds libp2p, the transport and WebRTC')
    assert.ok(inputs.some(i => i.includes('packages/transport/dist/src/transport.js')), 'the wsstar transport is in the bundle')
    assert.ok(inputs.some(i => i.includes('packages/transport/dist/src/direct-upgrade.js')), 'the direct-upgrade service is in the bundle')
    assert.ok(inputs.some(i => i.endsWith('@libp2p/webrtc/dist/src/webrtc/index.browser.js')), 'the browser build of @libp2p/webrtc')
    const nodeOnly = inputs.filter(i => i.startsWith('node:') || /node_modules\/(ws|bufferutil|utf-8-validate|node-datachannel)\//.test(i) ||
      i.includes('libdatachannel-rtc-configuration') || i.endsWith('@libp2p/webrtc/dist/src/webrtc/index.js'))
    assert.deepEqual(nodeOnly, [])
  })

  it('a browser node and a Node.js node discover each other, ping and exchange messages both ways', { timeout: 60_000 }, async () => {
    const node = await createNode({ listen: [app.serverAddr] })
    nodes.push(node)
    const discovered = new Set<string>()
    node.addEventListener('peer:discovery', (evt) => { discovered.add(evt.detail.id.toString()) })
    const received = await handleChat(node)
    await waitFor(() => node.getMultiaddrs().length > 0, 10_000)

    const tab = await page('browser')
    const browserId = await openExample(tab, app)
    const nodeId = node.peerId.toString()

    // discovery, both ways, through the server
    await peerRow(tab, nodeId).waitFor({ timeout: 15_000 })
    await waitFor(() => discovered.has(browserId), 15_000)

    // Node.js dials the browser (an inbound relayed connection in the page): ping, then a message
    const browserPeer = peerIdFromString(browserId)
    const rtt = await node.services.ping.ping(browserPeer, { signal: AbortSignal.timeout(15_000) })
    assert.ok(rtt >= 0)
    await nodeSendChat(node, browserPeer, 'hello from Node.js')
    await receivedChat(tab, 'hello from Node.js')

    // hang up, then the browser dials Node.js (outbound from the page): ping, then a message
    await node.hangUp(browserPeer)
    await waitFor(async () => await tab.evaluate((id) => !document.querySelector(`#peers li[data-peer-id="${id}"]`)?.classList.contains('connected'), nodeId), 10_000)
    const browserRtt = await connectAndPing(tab, nodeId)
    assert.ok(browserRtt >= 0)
    await sendChat(tab, 'hello from Chromium')
    await waitFor(() => received.some(m => m.text === 'hello from Chromium' && m.from === browserId), 10_000)

    await tab.close()
    await node.stop()
  })

  it('two browser pages discover each other, chat through the server and see each other leave', { timeout: 60_000 }, async () => {
    const alice = await page('alice')
    const bob = await page('bob')
    const aliceId = await openExample(alice, app)
    const bobId = await openExample(bob, app)

    // bob joined after alice: alice learns of bob from a discovery delta, bob of alice from the join sample
    await peerRow(alice, bobId).waitFor({ timeout: 15_000 })
    await peerRow(bob, aliceId).waitFor({ timeout: 15_000 })

    assert.ok(await connectAndPing(alice, bobId) >= 0)
    await sendChat(alice, 'hi bob, alice here')
    await receivedChat(bob, 'hi bob, alice here')

    // bob answers over the connection alice opened (bob's chat target is alice, the only peer it knows)
    await sendChat(bob, 'hi alice!')
    await receivedChat(alice, 'hi alice!')

    // bob leaves: the server tells alice, whose page drops bob from its list
    await bob.close()
    await peerRow(alice, bobId).waitFor({ state: 'detached', timeout: 10_000 })
    await alice.close()
  })

  it('the status page shows the peer count change as browser nodes join and leave, without reloading', { timeout: 60_000 }, async () => {
    // the earlier tests' peers are gone once their sockets closed
    await waitFor(() => app.rendezvous.stats().peers === 0, 10_000)
    const status = await page('status')
    await status.goto(app.statusUrl)
    await status.evaluate(() => { (window as any).loadedOnce = true })
    const peersShown = async (n: number): Promise<void> => {
      await status.waitForFunction((expected) => document.getElementById('peers')?.textContent === expected, String(n), { timeout: 10_000 })
    }
    await peersShown(0)

    const first = await page('first')
    await openExample(first, app)
    await peersShown(1)
    const second = await page('second')
    await openExample(second, app)
    await peersShown(2)
    await first.close()
    await peersShown(1)
    await second.close()
    await peersShown(0)

    assert.equal(await status.evaluate(() => (window as any).loadedOnce), true, 'updated in place, not reloaded')
    assert.equal(await status.locator('#status').textContent(), 'ok')
    assert.match(await status.locator('#version').textContent() ?? '', /^\d+\.\d+\.\d+/)
    // the earlier tests relayed their pings and chats through this server
    assert.doesNotMatch(await status.locator('#relayed').textContent() ?? '', /^(0 B|–)$/)
    assert.match(await status.locator('#dial-results').textContent() ?? '', /^[1-9]\d* succeeded/)
    assert.match(await status.locator('#uptime').textContent() ?? '', /\d+s$/)
    await status.close()
  })
})
