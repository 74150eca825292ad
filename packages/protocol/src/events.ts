/** Protocol version a v2 client states in the socket.io handshake: `auth: { protocol }`. */
export const PROTOCOL_VERSION = 'wsstar/2'

/**
 * socket.io event names. The misspelt `ss-incomming` is kept from the legacy
 * protocol on purpose: it is what deployed clients listen for.
 */
export const Event = {
  /** client -> server: register an address (two steps with the challenge) */
  JOIN: 'ss-join',
  /** client -> server: unregister an address */
  LEAVE: 'ss-leave',
  /** client -> server: open a relayed connection to another peer */
  DIAL: 'ss-dial',
  /** server -> client: another peer dials you; ack to accept */
  INCOMING: 'ss-incomming',
  /** server -> client: batched discovery deltas `{ joined, left }` */
  PEERS: 'ws-peers',
  /** server -> client: the servers of the cluster changed `{ cluster: [server address...] }` */
  CLUSTER: 'ws-cluster',
  /** server -> client: the server is stopping `{ code, message, graceMs }` */
  SHUTDOWN: 'ss-shutdown',
  /** server -> client: this socket lost a registration `{ address, code, message }` */
  EVICTED: 'ss-evicted',
  /** both ways: relayed bytes `(dialId, bytes)` */
  DATA: 'd',
  /** both ways: credit grant `(dialId, bytes)` */
  CREDIT: 'c',
  /** both ways: end of a dial direction `(dialId, kind, error?)` */
  END: 'e'
} as const

export type EventName = typeof Event[keyof typeof Event]

/** Kinds of `e` frames. */
export const EndKind = {
  /** the sender will send no more data in this direction (half close) */
  CLOSE_WRITE: 'close-write',
  /** the dial is torn down in both directions */
  RESET: 'reset'
} as const

export type EndKind = typeof EndKind[keyof typeof EndKind]
