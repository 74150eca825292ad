import { createHash } from 'node:crypto'
import { parseHandshakeToken } from '@wsstar/protocol'

/**
 * The token file of `--auth token` (docs/PRIVATE-SERVERS.md): one token per
 * line, then its options, separated by spaces:
 *
 *     # comment
 *     <token> [name=<label>] [max-peers=<n>] [relay-rate=<bytes/s>] [namespaces=<a>,<b>]
 *     sha256:<hex of the token's SHA-256> [options]
 *
 * Of a token the server keeps its SHA-256 only, and finds a presented token
 * by its digest. Imports nothing of the server.
 */

/** One line of the file, as the server keeps it. */
export interface TokenEntry {
  /** SHA-256 of the token, hex */
  digest: string
  /** a label for logs (`name=`; default: the start of the digest) */
  name: string
  /** registrations all sockets with this token may hold at once on this server */
  maxPeers?: number
  /** bytes per second the relay forwards for a socket with this token */
  relayBytesPerSecond?: number
  /** namespaces a join with this token may name */
  namespaces?: string[]
}

/** A token or allow-list file the server cannot use; says which line, never what a token is. */
export class AuthFileError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'AuthFileError'
  }
}

const NAME_PATTERN = /^[\w.:-]{1,64}$/
const DIGEST_PATTERN = /^sha256:([0-9a-f]{64})$/i
const MAX_COUNT = 1e9
const MAX_RELAY_RATE = 2 ** 40

/** SHA-256 of a token, hex: the key the server finds a token by. */
export function tokenDigest (token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex')
}

/** The lines of a file that say something: [line number, text], without comments and blank lines. */
export function meaningfulLines (text: string): Array<[number, string]> {
  return text.split(/\r?\n/).map((line, i): [number, string] => [i + 1, line.trim()]).filter(([, line]) => line !== '' && !line.startsWith('#'))
}

/** Parses a token file; throws AuthFileError naming `file` and the line. At least one token. */
export function parseTokenFile (text: string, file = 'token file'): TokenEntry[] {
  const entries: TokenEntry[] = []
  const seen = new Set<string>()
  for (const [n, line] of meaningfulLines(text)) {
    const where = `${file}:${n}`
    const [secret, ...options] = line.split(/\s+/)
    const digest = digestOf(secret, where)
    if (seen.has(digest)) {
      throw new AuthFileError(`${where}: the same token is listed twice`)
    }
    seen.add(digest)
    const entry: TokenEntry = { digest, name: `sha256:${digest.slice(0, 12)}` }
    for (const option of options) {
      readOption(entry, option, where)
    }
    entries.push(entry)
  }
  if (entries.length === 0) {
    throw new AuthFileError(`${file}: no token in it (an empty token file would refuse every client)`)
  }
  return entries
}

function digestOf (secret: string, where: string): string {
  const given = DIGEST_PATTERN.exec(secret)
  if (given != null) {
    return given[1].toLowerCase()
  }
  if (secret.toLowerCase().startsWith('sha256:')) {
    throw new AuthFileError(`${where}: sha256: must be followed by the 64 hex digits of the token's SHA-256`)
  }
  try {
    parseHandshakeToken({ token: secret })
  } catch (err) {
    throw new AuthFileError(`${where}: ${(err as Error).message}`)
  }
  return tokenDigest(secret)
}

function readOption (entry: TokenEntry, option: string, where: string): void {
  const eq = option.indexOf('=')
  const key = eq < 0 ? option : option.slice(0, eq)
  const value = eq < 0 ? '' : option.slice(eq + 1)
  switch (key) {
    case 'name':
      if (!NAME_PATTERN.test(value)) {
        throw new AuthFileError(`${where}: name= must be 1..64 characters of A-Z a-z 0-9 _ . : -`)
      }
      entry.name = value
      return
    case 'max-peers':
      entry.maxPeers = integer(value, 1, MAX_COUNT, `${where}: max-peers=`)
      return
    case 'relay-rate':
      entry.relayBytesPerSecond = integer(value, 1, MAX_RELAY_RATE, `${where}: relay-rate= (bytes per second)`)
      return
    case 'namespaces': {
      const namespaces = value.split(',')
      if (namespaces.some(ns => ns === '')) {
        throw new AuthFileError(`${where}: namespaces= must list one or more namespaces, comma-separated`)
      }
      entry.namespaces = namespaces
      return
    }
    default:
      throw new AuthFileError(`${where}: unknown option "${key.slice(0, 32)}" (known: name, max-peers, relay-rate, namespaces)`)
  }
}

function integer (value: string, min: number, max: number, what: string): number {
  const n = Number(value)
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new AuthFileError(`${what} must be an integer in ${min}..${max}`)
  }
  return n
}
