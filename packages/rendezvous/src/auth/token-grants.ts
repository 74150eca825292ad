import { tokenDigest } from './token-file.js'
import type { TokenEntry } from './token-file.js'

/**
 * What one token of the token file grants, shared by every socket that
 * presented it: its limits, and how many registrations those sockets hold
 * (a Session counts its own registrations here: Session.addAddress and
 * removeAddress).
 */
export interface TokenGrant {
  /** the token's label (`name=`), for logs */
  name: string
  /** registrations all sockets with this token may hold at once on this server; undefined: no bound */
  maxPeers?: number
  /** the relay rate (payload bytes per second) of a socket with this token, set when it connects, in place of the server's `relay-rate`; undefined: the server's */
  relayBytesPerSecond?: number
  /** the namespaces a join with this token may name, and must name one of (not the default namespace); undefined: any, or none */
  namespaces?: ReadonlySet<string>
  /** registrations held now by the sockets with this token */
  registrations: number
  /** joins with this token between their max-peers check and their registration */
  joining: number
  /** payload bytes the sockets with this token sent over their dials (Session.sentData), since the token was first read */
  relayedOut: number
  /** payload bytes relayed to the sockets with this token (Session.sendData), since the token was first read */
  relayedIn: number
}

/**
 * The tokens of the token file, found by their SHA-256. A reload updates
 * the grants of the tokens it keeps in place, so sockets connected with
 * them keep counting against the same max-peers; a token it drops refuses
 * new sockets, and those connected with it keep their grant until they
 * disconnect. Imports the token digest.
 */
export class TokenGrants {
  /** token digest -> grant */
  #grants = new Map<string, TokenGrant>()

  get size (): number {
    return this.#grants.size
  }

  /** The grants of the tokens in the file now. */
  grants (): IterableIterator<TokenGrant> {
    return this.#grants.values()
  }

  /** The grant of a presented token; undefined when it is not in the file. */
  find (token: string): TokenGrant | undefined {
    return this.#grants.get(tokenDigest(token))
  }

  /** The file was read (again): these are the tokens now. */
  replace (entries: readonly TokenEntry[]): void {
    const next = new Map<string, TokenGrant>()
    for (const entry of entries) {
      const grant: TokenGrant = this.#grants.get(entry.digest) ?? { name: entry.name, registrations: 0, joining: 0, relayedOut: 0, relayedIn: 0 }
      grant.name = entry.name
      grant.maxPeers = entry.maxPeers
      grant.relayBytesPerSecond = entry.relayBytesPerSecond
      grant.namespaces = entry.namespaces == null ? undefined : new Set(entry.namespaces)
      next.set(entry.digest, grant)
    }
    this.#grants = next
  }
}
