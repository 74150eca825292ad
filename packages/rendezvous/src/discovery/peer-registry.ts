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
}

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
   * `exclude`. Cost must be O(count), not O(peers).
   */
  sample(count: number, exclude?: ReadonlySet<string>): Promise<string[]>
  size(): Promise<number>
  /** Releases resources (connections, timers). */
  close?(): Promise<void>
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

interface Slot {
  record: PeerRecord
  index: number
}

/**
 * The default registry: one process, no dependencies. A map for lookups
 * plus dense arrays for O(1) uniform random picks; removal swaps the last
 * element into the hole, so both stay O(1). The addresses have a dense
 * array of their own: a sample reads only that array (and the slots of the
 * few excluded ids), never the records, which under load sit in cold cache
 * lines all over the heap.
 */
export class InMemoryPeerRegistry implements PeerRegistry {
  readonly #slots = new Map<string, Slot>()
  readonly #dense: PeerRecord[] = []
  /** `#dense[i].address`, kept in step with `#dense` */
  readonly #addresses: string[] = []
  readonly #random: () => number
  /** sampleSync's scratch: the indices a sample picked so far */
  #picked = new Int32Array(0)

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

  async sample (count: number, exclude?: ReadonlySet<string>): Promise<string[]> {
    return this.sampleSync(count, exclude)
  }

  async size (): Promise<number> {
    return this.#dense.length
  }

  async close (): Promise<void> {
    this.#slots.clear()
    this.#dense.length = 0
    this.#addresses.length = 0
  }

  get count (): number {
    return this.#dense.length
  }

  addSync (record: PeerRecord): PeerRecord | undefined {
    const copy = { ...record }
    const slot = this.#slots.get(record.peerId)
    if (slot != null) {
      const previous = slot.record
      slot.record = copy
      this.#dense[slot.index] = copy
      this.#addresses[slot.index] = copy.address
      return previous
    }
    this.#slots.set(record.peerId, { record: copy, index: this.#dense.length })
    this.#dense.push(copy)
    this.#addresses.push(copy.address)
    return undefined
  }

  removeSync (peerId: string, socketId: string): boolean {
    const slot = this.#slots.get(peerId)
    if (slot == null || slot.record.socketId !== socketId) {
      return false
    }
    this.#slots.delete(peerId)
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
    return true
  }

  sampleSync (count: number, exclude?: ReadonlySet<string>): string[] {
    const addresses = this.#addresses
    const total = addresses.length
    if (count <= 0 || total === 0) {
      return []
    }
    // indices of the excluded ids (a socket's own few registrations)
    const skip: number[] = []
    if (exclude != null) {
      for (const id of exclude) {
        const slot = this.#slots.get(id)
        if (slot != null) {
          skip.push(slot.index)
        }
      }
    }
    const available = total - skip.length
    if (available <= 0) {
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
        const j = i + Math.floor(this.#random() * (all.length - i))
        const tmp = all[i]
        all[i] = all[j]
        all[j] = tmp
      }
      all.length = n
      return all
    }
    // many peers: rejection sampling, expected < 2 picks per result. The
    // indices picked so far are looked up in a scratch array kept for
    // this: a Set made per sample was most of what an idle server allocated
    // for its re-samples (it grows its table several times to hold them)
    const picked = this.#picked.length >= count + skip.length ? this.#picked : (this.#picked = new Int32Array(count + skip.length))
    let n = 0
    for (const i of skip) {
      picked[n++] = i
    }
    const out = new Array<string>(count)
    let filled = 0
    while (filled < count) {
      const i = Math.floor(this.#random() * total)
      if (includes(picked, n, i)) {
        continue
      }
      picked[n++] = i
      out[filled++] = addresses[i]
    }
    return out
  }
}
