import { readFile } from 'node:fs/promises'
import { createSecureContext } from 'node:tls'

/** Where the server's TLS certificate (chain) and private key live, as PEM files. */
export interface TlsFiles {
  cert: string
  key: string
}

export interface TlsCredentials {
  cert: Buffer
  key: Buffer
}

/** The certificate or key files cannot be read, or do not belong together. */
export class TlsCredentialsError extends Error {
  constructor (message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'TlsCredentialsError'
  }
}

/**
 * Reads both files and checks that they make a usable context (a key that
 * matches the certificate) before anything is swapped in, so a bad renewal
 * leaves the server on its previous certificate.
 */
export async function readTlsCredentials (files: TlsFiles): Promise<TlsCredentials> {
  let credentials: TlsCredentials
  try {
    const [cert, key] = await Promise.all([readFile(files.cert), readFile(files.key)])
    credentials = { cert, key }
  } catch (err) {
    throw new TlsCredentialsError(`cannot read the TLS certificate or key: ${(err as Error).message}`, { cause: err })
  }
  try {
    createSecureContext(credentials)
  } catch (err) {
    throw new TlsCredentialsError(`${files.cert} and ${files.key} are not a usable certificate and key: ${(err as Error).message}`, { cause: err })
  }
  return credentials
}
