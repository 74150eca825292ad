import { readFileSync } from 'node:fs'
import { PROTOCOL_VERSION } from '@wsstar/protocol'

/** What this server is: shown on the status page and in `/status.json`. */
export interface BuildInfo {
  /** version of `@wsstar/rendezvous` (its package.json) */
  version: string
  /** the wire protocol it speaks */
  protocol: string
  /** the Node.js running it */
  node: string
}

export const BUILD_INFO: BuildInfo = {
  version: packageVersion(),
  protocol: PROTOCOL_VERSION,
  node: process.version
}

/** dist/src/build-info.js -> ../../package.json, both in the repo and once installed */
function packageVersion (): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: unknown }
    return typeof pkg.version === 'string' ? pkg.version : 'unknown'
  } catch {
    return 'unknown'
  }
}
