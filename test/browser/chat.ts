/** The example's chat protocol, Node.js side: one UTF-8 message per stream. */
import type { Libp2p, PeerId } from '@libp2p/interface'

export const CHAT_PROTOCOL = '/wsstar-example/chat/1.0.0'

export interface ChatMessage {
  from: string
  text: string
}

/** Handles the chat protocol on `node`; returns the messages as they come. */
export async function handleChat (node: Libp2p<any>): Promise<ChatMessage[]> {
  const received: ChatMessage[] = []
  await node.handle(CHAT_PROTOCOL, async (stream, connection) => {
    const decoder = new TextDecoder()
    let text = ''
    for await (const chunk of stream) {
      text += decoder.decode(chunk.subarray(), { stream: true })
    }
    received.push({ from: connection.remotePeer.toString(), text: text + decoder.decode() })
    await stream.close()
  })
  return received
}

/** Sends one message: open a stream, write, half-close, wait for the other side to close. */
export async function sendChat (node: Libp2p<any>, peer: PeerId, text: string): Promise<void> {
  const stream = await node.dialProtocol(peer, CHAT_PROTOCOL, { signal: AbortSignal.timeout(15_000) })
  stream.send(new TextEncoder().encode(text))
  await stream.close()
  for await (const _ of stream) { /* nothing comes back; ends when the receiver closes */ }
}
