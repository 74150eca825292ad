// 1-byte echo round trips over one libp2p 3 stream.

import { waitForDrain } from './transfer.mjs'

export const ECHO_PROTOCOL = '/wsstar-bench/echo/1.0.0'

/** Listener side: writes back every chunk it reads, closes when the dialer does. */
export async function handleEcho (stream) {
  try {
    for await (const chunk of stream) {
      if (!stream.send(chunk)) await waitForDrain(stream)
    }
    await stream.close()
  } catch (err) {
    stream.abort(err)
  }
}

/**
 * Dialer side: `warmup` + `rounds` sequential 1-byte round trips on a new
 * ECHO_PROTOCOL stream over `connection`. Returns the measured RTTs in ms
 * (warmup excluded).
 */
export async function echoRtts (connection, { rounds = 1000, warmup = 100 } = {}) {
  const stream = await connection.newStream(ECHO_PROTOCOL, { runOnLimitedConnection: true })
  const it = stream[Symbol.asyncIterator]()
  const byte = new Uint8Array([42])
  const rtts = []
  try {
    for (let i = 0; i < warmup + rounds; i++) {
      const t0 = process.hrtime.bigint()
      if (!stream.send(byte)) await waitForDrain(stream)
      let got = 0
      while (got < 1) {
        const r = await it.next()
        if (r.done === true) throw new Error('echo stream ended early')
        got += r.value.byteLength
      }
      const t1 = process.hrtime.bigint()
      if (got !== 1) throw new Error(`echo returned ${got} bytes`)
      if (i >= warmup) rtts.push(Number(t1 - t0) / 1e6)
    }
    await stream.close()
    // drain until the listener closes too
    for (;;) {
      const r = await it.next()
      if (r.done === true) break
    }
    return rtts
  } catch (err) {
    stream.abort(err)
    throw err
  }
}
