import { parsePeerId } from '@wsstar/protocol'
import { AuthFileError, meaningfulLines } from './token-file.js'

/**
 * The allow list of `--auth allow-list`: one peer id per line (`12D3KooW…`,
 * `Qm…`), `#` comments, at least one. Imports the file errors of the token file.
 */
export function parseAllowListFile (text: string, file = 'allow list'): Set<string> {
  const peers = new Set<string>()
  for (const [n, line] of meaningfulLines(text)) {
    try {
      peers.add(parsePeerId(line))
    } catch {
      throw new AuthFileError(`${file}:${n}: not a peer id`)
    }
  }
  if (peers.size === 0) {
    throw new AuthFileError(`${file}: no peer id in it (an empty allow list would refuse every peer; a file read while it was being written looks like this)`)
  }
  return peers
}
