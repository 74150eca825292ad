'use strict'
// Logs every Engine.IO packet a server in this process receives or sends, by patching the
// engine.io Socket prototype that socket.io v2 uses (engine.io 3.x). Nothing else changes:
// it is meant to be loaded BEFORE the legacy rendezvous server so that we see what real
// legacy clients and the real legacy server put on the wire.
//
// Each line: { dir: 'in'|'out', sid, type, text } for text packets (the socket.io packet,
// e.g. '42["ss-join",...]'), or { dir, sid, type, binary: <bytes> } for binary attachments.

const MAX_TEXT = Number(process.env.WSSTAR_OBSERVE_MAX_TEXT || 2000)

function describe (dir, sid, type, data) {
  const line = { dir, sid, type }
  if (Buffer.isBuffer(data) || data instanceof ArrayBuffer || ArrayBuffer.isView(data)) {
    line.binary = data.byteLength
  } else if (data !== undefined) {
    const s = String(data)
    line.text = s.length > MAX_TEXT ? s.slice(0, MAX_TEXT) + `…(${s.length} chars)` : s
  }
  return line
}

function install (log, engineIoSocketModule = 'engine.io/lib/socket') {
  const Socket = require(engineIoSocketModule)
  if (Socket.prototype.__wsstarObserved) return
  Socket.prototype.__wsstarObserved = true
  const onPacket = Socket.prototype.onPacket
  const sendPacket = Socket.prototype.sendPacket
  Socket.prototype.onPacket = function (packet) {
    try { log(describe('in', this.id, packet.type, packet.data)) } catch (_) { /* an observer never breaks the socket it watches */ }
    return onPacket.apply(this, arguments)
  }
  Socket.prototype.sendPacket = function (type, data) {
    try { log(describe('out', this.id, type, data)) } catch (_) { /* an observer never breaks the socket it watches */ }
    return sendPacket.apply(this, arguments)
  }
}

module.exports = { install, describe }
