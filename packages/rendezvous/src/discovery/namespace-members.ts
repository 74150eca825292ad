import type { Session } from '../session/session.js'

interface Members {
  /** socket -> its registrations in the namespace */
  sessions: Map<Session, number>
  peers: number
}

/**
 * Who is in each named namespace on this server: the sockets a namespace's
 * `ws-peers` deltas go to, and how many of this server's registrations it
 * has (the metrics). A namespace is here while a local registration is in
 * it. The default namespace is not: its sockets are all registered sockets
 * whose `inDefaultNamespace` holds, as before namespaces existed.
 */
export class NamespaceMembers {
  readonly #members = new Map<string, Members>()

  /** named namespaces with a registration on this server */
  get size (): number {
    return this.#members.size
  }

  /** A registration of `session` joined `namespaces`. */
  add (session: Session, namespaces: readonly string[]): void {
    for (const name of namespaces) {
      let members = this.#members.get(name)
      if (members == null) {
        members = { sessions: new Map(), peers: 0 }
        this.#members.set(name, members)
      }
      members.sessions.set(session, (members.sessions.get(session) ?? 0) + 1)
      members.peers++
    }
  }

  /** A registration of `session` in `namespaces` ended (or moved). */
  remove (session: Session, namespaces: readonly string[]): void {
    for (const name of namespaces) {
      const members = this.#members.get(name)
      const held = members?.sessions.get(session)
      if (members == null || held == null) {
        continue
      }
      if (held <= 1) {
        members.sessions.delete(session)
      } else {
        members.sessions.set(session, held - 1)
      }
      members.peers--
      if (members.sessions.size === 0) {
        this.#members.delete(name)
      }
    }
  }

  /** The sockets of this server in `name`. */
  sessionsOf (name: string): Iterable<Session> {
    return this.#members.get(name)?.sessions.keys() ?? []
  }

  /** The `n` namespaces with the most local registrations, most first, with their counts. */
  top (n: number): Array<[string, number]> {
    if (n <= 0) {
      return []
    }
    // a bounded, sorted list: O(namespaces × n) at scrape time, n small
    const best: Array<[string, number]> = []
    for (const [name, { peers }] of this.#members) {
      if (best.length === n && peers <= best[n - 1][1]) {
        continue
      }
      let i = best.length
      while (i > 0 && best[i - 1][1] < peers) {
        i--
      }
      best.splice(i, 0, [name, peers])
      if (best.length > n) {
        best.pop()
      }
    }
    return best
  }
}
