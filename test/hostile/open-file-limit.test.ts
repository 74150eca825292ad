/**
 * Hostile: a flood of connections up to the process's open-file limit.
 * Every socket is a file descriptor; at the limit the kernel refuses
 * accepts and the clients see only a broken websocket, with nothing
 * counted. The server reads its limit at start, logs it, and refuses the
 * connections past the limit less `--fd-reserve` at connect, with
 * ERR_LIMIT_EXCEEDED, counted; it keeps serving those it holds and takes
 * new ones once others closed.
 */
import assert from 'node:assert/strict'
import { afterEach, describe, it } from 'node:test'
import { ConnectRefused, closeClients, connect, identity, peerAddress, tryJoinBySocketId } from '@wsstar/raw-client'
import { waitFor } from '../helpers/wait.js'
import { spawnServer } from './helpers/server-process.js'
import type { ServerProcess } from './helpers/server-process.js'
import type { Socket } from 'socket.io-client'

const LIMIT = 300
const RESERVE = 100

async function open (port: number): Promise<Socket | string> {
  try {
    return await connect(port, { timeoutMs: 5000 })
  } catch (err) {
    return err instanceof ConnectRefused ? err.data?.code ?? `no code: ${err.message}` : `failed: ${(err as Error).message}`
  }
}

describe('hostile: open-file limit', { timeout: 120_000 }, () => {
  let server: ServerProcess | undefined

  afterEach(async () => {
    closeClients()
    await server?.stop()
    server = undefined
  })

  it(`under a ${LIMIT}-file limit, connections past the limit less --fd-reserve are refused at connect (ERR_LIMIT_EXCEEDED, counted); the held ones keep working`, async () => {
    server = await spawnServer(['--fd-reserve', String(RESERVE)], { openFileLimit: LIMIT })
    const port = server.port
    // logged once listening: /health may answer before the line is read here
    const started = server
    await waitFor(() => started.lines.some(l => l.includes(`open-file limit ${LIMIT}`)), 5000, 'the open-file limit logged at start')

    // more clients than the server has files for, a few at a time
    const results: Array<Socket | string> = []
    for (let i = 0; i < LIMIT + 40; i += 20) {
      results.push(...await Promise.all(Array.from({ length: 20 }, async () => await open(port))))
    }
    const held = results.filter((r): r is Socket => typeof r !== 'string')
    const refusals = results.filter((r): r is string => typeof r === 'string')
    const ceiling = LIMIT - RESERVE
    assert.ok(held.length <= ceiling, `${held.length} connections held, ceiling ${ceiling}`)
    assert.ok(held.length >= ceiling - 20, `the server holds about its ceiling (${held.length} of ${ceiling})`)
    assert.deepEqual([...new Set(refusals)], ['ERR_LIMIT_EXCEEDED'], 'every refusal is coded, none is a broken websocket')
    const hits = await server.metricsOf('wsstar_limit_hits_total')
    assert.equal(hits['limit="fd-reserve"'], refusals.length, 'every refusal is counted under fd-reserve')
    assert.equal((await server.health()).status, 200)

    // a held socket still joins; once some close, new ones get in
    const me = await identity()
    const [err] = await tryJoinBySocketId(held[0], me, peerAddress(port, me))
    assert.equal(err, null)
    for (const socket of held.slice(1, 21)) socket.disconnect()
    await new Promise(resolve => setTimeout(resolve, 500))
    assert.equal(typeof await open(port), 'object', 'a new client gets in once others left')
    assert.ok(server.alive())
  })
})
