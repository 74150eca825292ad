/**
 * Hostile (to the transport): frames of a dial that arrive in the same
 * socket read as the dial's ack. The callee may send data at once after
 * accepting (PROTOCOL.md), and may reset or leave at once; the server
 * forwards those frames right behind the caller's ack. A client that only
 * registers the dial once the code awaiting the ack has run loses them:
 * a reset is dropped (the connection hangs until some upgrade timeout) and
 * data is taken for a stray frame (the dial is reset).
 */
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { multiaddr } from '@multiformats/multiaddr'
import { closeClients, rawPeer } from '@wsstar/raw-client'
import { createNode, wsstarOf } from '../helpers/nodes.js'
import { listenAddr } from '../helpers/rendezvous.js'
import { spawnServer } from './helpers/server-process.js'
import { waitFor } from '../helpers/wait.js'
import type { ServerProcess } from './helpers/server-process.js'
import type { TestNode } from '../helpers/nodes.js'

describe('hostile: frames right behind the dial ack', { timeout: 60_000 }, () => {
  let server: ServerProcess
  const nodes: TestNode[] = []
  after(async () => {
    closeClients()
    await Promise.all(nodes.map(async n => { await n.stop() }))
    await server?.stop()
  })

  async function caller (): Promise<TestNode> {
    server ??= await spawnServer([])
    const node = await createNode({ listen: [listenAddr(server.port)] })
    nodes.push(node)
    await waitFor(() => wsstarOf(node).getServers().some(s => s.status === 'registered'), 10_000, 'the caller to register')
    return node
  }

  it('a callee that accepts and resets at once: the caller\'s dial fails fast instead of hanging', async () => {
    const node = await caller()
    const callee = await rawPeer(server.port, { answer: 'ignore' })
    callee.socket.on('ss-incomming', (dialId: string, _from: string, ack: (err: null) => void) => {
      ack(null)
      callee.socket.emit('e', dialId, 'reset', { code: 'ERR_PEER_GONE', message: 'changed my mind' })
    })
    for (let i = 0; i < 5; i++) {
      const started = Date.now()
      const err = await node.dial(multiaddr(callee.address), { signal: AbortSignal.timeout(8000) }).then(() => undefined, (e: Error) => e)
      const ms = Date.now() - started
      if (process.env.HOSTILE_DEBUG != null) console.log(`# attempt ${i}: ${ms} ms ${err?.name}: ${err?.message}`)
      // the callee's reset reached the caller's connection: not a stray-frame answer from the server
      assert.match(String(err?.message), /reset|closed/i)
      assert.doesNotMatch(String(err?.message), /DIAL_NOT_FOUND/)
      assert.ok(ms < 3000, `attempt ${i}: the dial failed after ${ms} ms (the reset was lost; only a timeout ended it)`)
    }
    await waitFor(() => wsstarOf(node).getServers()[0]?.dials === 0, 3000, 'the caller to forget its dials')
  })

  it('a callee that accepts and sends data at once: the caller takes the data (noise reads it), it does not reset the dial as unknown', async () => {
    const node = await caller()
    const callee = await rawPeer(server.port, { answer: 'ignore' })
    const seen: string[] = []
    let current = ''
    callee.socket.on('ss-incomming', (dialId: string, _from: string, ack: (err: null) => void) => {
      current = dialId
      ack(null)
      // a length-prefixed 5-byte "noise message": the caller's noise fails on it at once
      callee.socket.emit('d', dialId, Buffer.from([0, 5, 1, 2, 3, 4, 5]))
    })
    callee.socket.on('d', (id: string) => { if (id === current) seen.push('d') })
    callee.socket.on('e', (id: string, kind: string) => { if (id === current) seen.push(`e:${kind}`) })
    for (let i = 0; i < 5; i++) {
      seen.length = 0
      // the upgrade fails (the callee speaks no noise), but only after the caller read the data
      const err = await node.dial(multiaddr(callee.address), { signal: AbortSignal.timeout(8000) }).then(() => undefined, (e: Error) => e)
      assert.ok(err != null, 'the dial fails')
      if (process.env.HOSTILE_DEBUG != null) console.log(`# attempt ${i}: ${err.name}: ${err.message}`)
      await waitFor(() => seen.length > 0, 3000, 'the caller to send something')
      assert.equal(seen[0], 'd', `attempt ${i}: the caller's first frame was ${seen[0]}: it reset the dial as unknown before its own noise message`)
    }
  })
})
