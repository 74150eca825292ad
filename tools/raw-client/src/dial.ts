/** Opening a dial (docs/PROTOCOL.md "Dial"): `ss-dial` from the caller, `ss-incomming` acked by the callee. */
import { Event } from '@wsstar/protocol'
import { nextEvent } from './next-event.js'
import { resultOf } from './request.js'
import type { Socket } from 'socket.io-client'

/** one side of a dial: a joined socket and the address it joined */
export interface DialSide { socket: Socket, address: string }

/** Dials `to` from `caller`, whose callee accepts by itself (e.g. a rawPeer); resolves the dial id, throws RequestFailed with the code. */
export async function dial (caller: DialSide, to: string): Promise<string> {
  const result = await resultOf(caller.socket, Event.DIAL, caller.address, to)
  return result.dialId
}

/** Dials `callee` from `caller`, the callee accepting the next `ss-incomming` here; resolves the dial id both ends got. */
export async function openDial (caller: DialSide, callee: DialSide): Promise<string> {
  // the server answers the caller only once the callee accepted: accept as the offer arrives
  const accepted = nextEvent(callee.socket, Event.INCOMING, (_dialId: string, _from: string, ack: (err: null) => void) => {
    ack(null)
    return true
  })
  const [dialId, [calleeId]] = await Promise.all([dial(caller, callee.address), accepted])
  if (calleeId !== dialId) throw new Error('caller and callee got different dial ids')
  return dialId
}
