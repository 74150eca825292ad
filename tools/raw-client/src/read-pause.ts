/**
 * A client that stops reading: its TCP socket is paused, so the server's
 * writes pile up in the kernel and then on the server, while the client can
 * still send. The only reach into socket.io-client's internals (engine.io's
 * websocket transport and its `ws` socket), kept here.
 */
import type { Socket } from 'socket.io-client'

function tcpOf (socket: Socket): { pause(): void, resume(): void } {
  const tcp = (socket.io as any).engine?.transport?.ws?._socket
  if (tcp == null) throw new Error('no TCP socket under this socket.io client (not connected over a websocket?)')
  return tcp
}

export function stopReading (socket: Socket): void {
  tcpOf(socket).pause()
}

export function resumeReading (socket: Socket): void {
  tcpOf(socket).resume()
}
