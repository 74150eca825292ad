// Bulk transfer over one libp2p 3 stream (a MessageStream: send() + 'drain',
// async-iterable for reading; it-pipe cannot sink into it).
//
// Back-pressure: when send() returns false we wait for the stream's next
// 'drain' EVENT, not for `stream.onDrain()`: in @libp2p/utils 7.4.1 (and
// js-libp2p main at the time of writing) AbstractMessageStream.onDrain()
// creates its promise once and never clears it after it resolved, so after
// the first drain every later `await stream.onDrain()` returns at once and
// the sender buffers the rest of the transfer in the stream's write buffer
// (45 MiB of a 64 MiB transfer, measured). See waitForDrain().
//
// Protocol SINK_PROTOCOL: the dialer sends N bytes and closes its writable
// end; the listener counts what it read, answers with the count as a 64-bit
// big-endian integer, and closes. The dialer's clock runs from the first
// send() to the arrival of that answer, so the time covers every byte
// reaching the receiving application.

export const SINK_PROTOCOL = '/wsstar-bench/sink/1.0.0'
export const CHUNK_BYTES = 64 * 1024
const PROGRESS_STEP = 1024 * 1024

const payload = new Uint8Array(CHUNK_BYTES).map((_, i) => (i * 31 + 7) & 0xff)

/**
 * Resolves on the stream's next 'drain' event (immediately if it does not
 * need one), rejects if it closes first. A replacement for the broken
 * `stream.onDrain()` (see the top of this file).
 */
export function waitForDrain (stream) {
  if (stream.writableNeedsDrain !== true) return Promise.resolve()
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      stream.removeEventListener('drain', onDrain)
      stream.removeEventListener('close', onClose)
    }
    const onDrain = () => { cleanup(); resolve() }
    const onClose = (evt) => { cleanup(); reject(evt.error ?? new Error('stream closed while waiting for drain')) }
    stream.addEventListener('drain', onDrain)
    stream.addEventListener('close', onClose)
  })
}

/** Sends `total` bytes in CHUNK_BYTES chunks, honouring back-pressure, then closes the writable end. */
export async function sendBytes (stream, total, { onProgress } = {}) {
  let sent = 0
  let nextReport = PROGRESS_STEP
  while (sent < total) {
    const n = Math.min(CHUNK_BYTES, total - sent)
    sent += n
    if (!stream.send(n === CHUNK_BYTES ? payload : payload.subarray(0, n))) {
      await waitForDrain(stream)
    }
    if (onProgress != null && sent >= nextReport) {
      onProgress(sent)
      nextReport = sent + PROGRESS_STEP
    }
  }
  await stream.close()
  onProgress?.(sent)
  return sent
}

/** Reads `stream` to its end; returns the byte count. Chunks may be Uint8Array or Uint8ArrayList. */
export async function readAll (stream, { onProgress } = {}) {
  let received = 0
  let nextReport = PROGRESS_STEP
  for await (const chunk of stream) {
    received += chunk.byteLength
    if (onProgress != null && received >= nextReport) {
      onProgress(received)
      nextReport = received + PROGRESS_STEP
    }
  }
  onProgress?.(received)
  return received
}

/**
 * Listener side of SINK_PROTOCOL: reads everything, answers with the count.
 */
export async function handleSink (stream, { onProgress } = {}) {
  try {
    const received = await readAll(stream, { onProgress })
    const answer = new Uint8Array(8)
    new DataView(answer.buffer).setBigUint64(0, BigInt(received))
    stream.send(answer)
    await stream.close()
    return received
  } catch (err) {
    stream.abort(err)
    throw err
  }
}

/**
 * Dialer side: opens a SINK_PROTOCOL stream on `connection`, sends `total`
 * bytes and waits for the receiver's count. Returns { bytes, ms, openMs }.
 */
export async function timedTransfer (connection, total, { onProgress } = {}) {
  const tOpen = performance.now()
  const stream = await connection.newStream(SINK_PROTOCOL, { runOnLimitedConnection: true })
  const t0 = performance.now()
  try {
    const reading = (async () => {
      const parts = []
      let n = 0
      for await (const chunk of stream) {
        parts.push(chunk.subarray())
        n += chunk.byteLength
      }
      if (n !== 8) throw new Error(`sink answered ${n} bytes, expected 8`)
      const all = new Uint8Array(8)
      let o = 0
      for (const p of parts) { all.set(p, o); o += p.byteLength }
      return Number(new DataView(all.buffer).getBigUint64(0))
    })()
    await sendBytes(stream, total, { onProgress })
    const received = await reading
    const t1 = performance.now()
    if (received !== total) throw new Error(`receiver counted ${received} bytes, sent ${total}`)
    return { bytes: total, ms: t1 - t0, openMs: t0 - tOpen }
  } catch (err) {
    stream.abort(err)
    throw err
  }
}
