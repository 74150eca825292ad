import { rawPeer } from '@wsstar/raw-client'
/**
 * A protocol v2 peer in a process of its own, so a test can SIGKILL it
 * mid-transfer: `node peer-process.js <port>` joins, prints its address,
 * accepts every dial and consumes what arrives (granting credit in
 * quarter-window batches), printing `data <dialId>` on the first bytes of
 * each dial.
 */

const port = Number(process.argv[2])
const peer = await rawPeer(port)
const window = 1024 * 1024
const due = new Map<string, number>()
peer.socket.on('d', (dialId: string, bytes: Uint8Array) => {
  if (!due.has(dialId)) process.stdout.write(`data ${dialId}\n`)
  const n = (due.get(dialId) ?? 0) + bytes.byteLength
  if (n >= window / 4) {
    peer.socket.emit('c', dialId, n)
    due.set(dialId, 0)
  } else {
    due.set(dialId, n)
  }
})
process.stdout.write(`address ${peer.address}\n`)
