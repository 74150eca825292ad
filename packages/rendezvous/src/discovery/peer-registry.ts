import { mergeSamples } from './namespace-samples.js'

/**
 * Who is online: `peer id -> { address, socket }`. Keyed by peer id, never
 * by address string, so two spellings of one peer are one peer.
 *
 * The interface is asynchronous so a shared store (Redis, for a cluster of
 * servers) can implement it; the server never assumes a call completes
 * synchronously.
 */
export interface PeerRecord {
  /** peer id string (base58btc / CID form, as PeerId.toString()) */
  peerId: string
  /** canonical peer address the peer registered with */
  address: string
  /** socket.io id of the socket that holds the registration */
  socketId: string
  /** the server node holding the socket; undefined means this node */
  nodeId?: string
  /** the namespaces the peer joined; undefined: the default namespace */
  namespaces?: readonly string[]
}

/**
 * The default namespace where a list of namespaces to sample names it (a
 * socket with registrations in it and in named ones). Never a name on the
 * wire, where names have at least one character.
 */
export const DEFAULT_NAMESPACE = ''

export interface PeerRegistry {
  /**
   * Registers (or replaces) the record for `record.peerId`. Resolves with the
   * record it replaced, if any, so the caller can evict the old socket.
   */
  add(record: PeerRecord): Promise<PeerRecord | undefined>
  /**
   * Removes the record of `peerId` only if it is still held by `socketId`
   * (a replaced registration must not remove its replacement).
   * Resolves true when something was removed.
   */
  remove(peerId: string, socketId: string): Promise<boolean>
  get(peerId: string): Promise<PeerRecord | undefined>
  /**
   * Up to `count` addresses of distinct random peers, none of whose ids is in
   * `exclude`, of the default namespace, or with `namespaces` of the peers
   * in any of those (`DEFAULT_NAMESPACE` for the default one). Cost must be
   * O(count) per namespace, not O(peers).
   */
  sample(count: number, exclude?: ReadonlySet<string>, namespaces?: readonly string[]): Promise<string[]>
  size(): Promise<number>
  /** Releases resources (connections, timers). */
  close?(): Promise<void>
}

interface Slot {
  record: PeerRecord
  /** position in the default namespace's arrays; -1 for a peer that joined namespaces */
  index: number
}

/** The peers of one named namespace, as dense arrays for O(1) random picks (the default namespace's are the registry's own). */
class NamespaceIndex {
  readonly ids: string[] = []
  readonly addresses: string[] = []
  readonly #positions = new Map<string, number>()

  get size (): number {
    return this.ids.length
  }

  position (peerId: string): number | undefined {
    return this.#positions.get(peerId)
  }

  add (peerId: string, address: string): void {
    this.#positions.set(peerId, this.ids.length)
    this.ids.push(peerId)
    this.addresses.push(address)
  }

  setAddress (peerId: string, address: string): void {
    const i = this.#positions.get(peerId)
    if (i != null) {
      this.addresses[i] = address
    }
  }

  remove (peerId: string): void {
    const i = this.#positions.get(peerId)
    if (i == null) {
      return
    }
    this.#positions.delete(peerId)
    const lastId = this.ids.pop() as string
    const lastAddress = this.addresses.pop() as string
    if (i < this.ids.length) {
      this.ids[i] = lastId
      this.addresses[i] = lastAddress
      this.#positions.set(lastId, i)
    }
  }
}

/** Whether two registrations' namespaces are the same set (undefined: the default namespace). */
export function sameNamespaces (a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  if (a === b) {
    return true
  }
  if (a == null || b == null || a.length !== b.length) {
    return false
  }
  return a.every(name => b.includes(name))
}

/** Whether `value` is among the first `n` entries of `array` (a sample's few picks: a scan beats a hash). */
function includes (array: Int32Array, n: number, value: number): boolean {
  for (let k = 0; k < n; k++) {
    if (array[k] === value) {
      return true
    }
  }
  return false
}

/** A registry's scratch for its samples: the indices a sample picked so far. */
interface SampleScratch {
  picked: Int32Array
}

/**
 * Up to `count` of `addresses` at distinct random positions, none in `skip`.
 * Few entries: a partial shuffle of all; many: rejection sampling, expected
 * < 2 picks per result.
 */
function sampleDense (addresses: readonly string[], skip: number[], count: number, random: () => number, scratch: SampleScratch): string[] {
  const total = addresses.length
  const available = total - skip.length
  if (count <= 0 || available <= 0) {
    return []
  }
  if (count * 2 >= available) {
    // few peers (total <= 2 * count + excluded): a partial shuffle of all is cheap
    const all: string[] = []
    for (let i = 0; i < total; i++) {
      if (!skip.includes(i)) {
        all.push(addresses[i])
      }
    }
    const n = Math.min(count, all.length)
    for (let i = 0; i < n; i++) {
      const j = i + Math.floor(random() * (all.length - i))
      const tmp = all[i]
      all[i] = all[j]
      all[j] = tmp
    }
    all.length = n
    return all
  }
  // the indices picked so far are looked up in a scratch array kept for
  // this: a Set made per sample was most of what an idle server allocated
  // for its re-samples (it grows its table several times to hold them)
  const picked = scratch.picked.length >= count + skip.length ? scratch.picked : (scratch.picked = new Int32Array(count + skip.length))
  let n = 0
  for (const i of skip) {
    picked[n++] = i
  }
  const out = new Array<string>(count)
  let filled = 0
  while (filled < count) {
    const i = Math.floor(random() * total)
    if (includes(picked, n, i)) {
      continue
    }
    picked[n++] = i
    out[filled++] = addresses[i]
  }
  return out
}

/**
 * The default registry: one process, no dependencies. A map for lookups
 * plus dense arrays for O(1) uniform random picks; removal swaps the last
 * element into the hole, so both stay O(1). The addresses have a dense
 * array of their own: a sample reads only that array (and the slots of the
 * few excluded ids), never the records, which under load sit in cold cache
 * lines all over the heap. The dense arrays hold the default namespace;
 * each named namespace has arrays of its own (`NamespaceIndex`), made with
 * its first peer and dropped with its last.
 */
export class InMemoryPeerRegistry implements PeerRegistry {
  readonly #slots = new Map<string, Slot>()
  readonly #dense: PeerRecord[] = []
  /** `#dense[i].address`, kept in step with `#dense` */
  readonly #addresses: string[] = []
  readonly #named = new Map<string, NamespaceIndex>()
  readonly #random: () => number
  /** sampleSync's scratch: the indices a sample picked so far */
  readonly #scratch: SampleScratch = { picked: new Int32Array(0) }

  constructor (random: () => number = Math.random) {
    this.#random = random
  }

  async add (record: PeerRecord): Promise<PeerRecord | undefined> {
    return this.addSync(record)
  }

  async remove (peerId: string, socketId: string): Promise<boolean> {
    return this.removeSync(peerId, socketId)
  }

  async get (peerId: string): Promise<PeerRecord | undefined> {
    return this.#slots.get(peerId)?.record
  }

  async sample (count: number, exclude?: ReadonlySet<string>, namespaces?: readonly string[]): Promise<string[]> {
    return this.sampleSync(count, exclude, namespaces)
  }

  async size (): Promise<number> {
    return this.#slots.size
  }

  async close (): Promise<void> {
    this.#slots.clear()
    this.#dense.length = 0
    this.#addresses.length = 0
    this.#named.clear()
  }

  get count (): number {
    return this.#slots.size
  }

  /** named namespaces with at least one peer */
  get namespaceCount (): number {
    return this.#named.size
  }

  addSync (record: PeerRecord): PeerRecord | undefined {
    const copy = { ...record }
    const slot = this.#slots.get(record.peerId)
    if (slot != null) {
      const previous = slot.record
      if (!sameNamespaces(previous.namespaces, copy.namespaces)) {
        this.#unindex(slot)
        slot.record = copy
        this.#index(slot)
      } else if (slot.index >= 0) {
        slot.record = copy
        this.#dense[slot.index] = copy
        this.#addresses[slot.index] = copy.address
      } else {
        slot.record = copy
        for (const name of copy.namespaces ?? []) {
          this.#named.get(name)?.setAddress(copy.peerId, copy.address)
        }
      }
      return previous
    }
    const added = { record: copy, index: -1 }
    this.#slots.set(record.peerId, added)
    this.#index(added)
    return undefined
  }

  removeSync (peerId: string, socketId: string): boolean {
    const slot = this.#slots.get(peerId)
    if (slot == null || slot.record.socketId !== socketId) {
      return false
    }
    this.#slots.delete(peerId)
    this.#unindex(slot)
    return true
  }

  sampleSync (count: number, exclude?: ReadonlySet<string>, namespaces?: readonly string[]): string[] {
    if (namespaces == null) {
      return this.#sampleDefault(count, exclude)
    }
    if (namespaces.length === 1) {
      return this.#sampleOne(namespaces[0], count, exclude)
    }
    return mergeSamples(namespaces.map(name => ({ addresses: this.#sampleOne(name, count, exclude), size: this.#sizeOf(name) })), count, this.#random)
  }

  /** Puts `slot`'s record in the arrays of its namespaces. */
  #index (slot: Slot): void {
    const { record } = slot
    if (record.namespaces == null) {
      slot.index = this.#dense.length
      this.#dense.push(record)
      this.#addresses.push(record.address)
      return
    }
    slot.index = -1
    for (const name of record.namespaces) {
      let index = this.#named.get(name)
      if (index == null) {
        index = new NamespaceIndex()
        this.#named.set(name, index)
      }
      index.add(record.peerId, record.address)
    }
  }

  /** Takes `slot`'s record out of the arrays of its namespaces. */
  #unindex (slot: Slot): void {
    const { record } = slot
    if (slot.index < 0) {
      for (const name of record.namespaces ?? []) {
        const index = this.#named.get(name)
        index?.remove(record.peerId)
        if (index?.size === 0) {
          this.#named.delete(name)
        }
      }
      return
    }
    const last = this.#dense.pop()
    const lastAddress = this.#addresses.pop()
    if (last != null && lastAddress != null && slot.index < this.#dense.length) {
      this.#dense[slot.index] = last
      this.#addresses[slot.index] = lastAddress
      const lastSlot = this.#slots.get(last.peerId)
      if (lastSlot != null) {
        lastSlot.index = slot.index
      }
    }
    slot.index = -1
  }

  #sizeOf (name: string): number {
    return name === DEFAULT_NAMESPACE ? this.#addresses.length : this.#named.get(name)?.size ?? 0
  }

  #sampleOne (name: string, count: number, exclude?: ReadonlySet<string>): string[] {
    if (name === DEFAULT_NAMESPACE) {
      return this.#sampleDefault(count, exclude)
    }
    const index = this.#named.get(name)
    if (index == null) {
      return []
    }
    const skip: number[] = []
    for (const id of exclude ?? []) {
      const position = index.position(id)
      if (position != null) {
        skip.push(position)
      }
    }
    return sampleDense(index.addresses, skip, count, this.#random, this.#scratch)
  }

  #sampleDefault (count: number, exclude?: ReadonlySet<string>): string[] {
    if (count <= 0 || this.#addresses.length === 0) {
      return []
    }
    // indices of the excluded ids (a socket's own few registrations)
    const skip: number[] = []
    if (exclude != null) {
      for (const id of exclude) {
        const slot = this.#slots.get(id)
        if (slot != null && slot.index >= 0) {
          skip.push(slot.index)
        }
      }
    }
    return sampleDense(this.#addresses, skip, count, this.#random, this.#scratch)
  }
}
