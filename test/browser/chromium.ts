/**
 * Headless Debian Chromium driven by playwright-core: never a downloaded
 * browser. A machine without it skips the browser suite (see
 * ../helpers/system-components.ts; CI installs the `chromium` package and
 * fails instead).
 *
 * WSSTAR_BROWSER_DEBUG=<namespaces> (e.g. `libp2p:webrtc*`) turns on those
 * libp2p debug logs in every page and echoes all console output to stderr.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium } from 'playwright-core'
import { CHROMIUM_PATH } from '../helpers/system-components.js'
import type { BrowserContext, Page } from 'playwright-core'


const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync',
  // the tests keep several tabs open at once: do not slow the ones in the background down
  '--disable-background-timer-throttling', '--disable-renderer-backgrounding', '--disable-backgrounding-occluded-windows']

export interface Chromium {
  context: BrowserContext
  /** A new tab whose uncaught errors and console errors are echoed to stderr (tagged with `name`). */
  newPage(name: string): Promise<Page>
  close(): Promise<void>
}

/** Launches Chromium with a fresh profile directory, removed again by `close()`. */
export async function launchChromium (): Promise<Chromium> {
  const profile = await mkdtemp(join(tmpdir(), 'wsstar-chromium-'))
  let context: BrowserContext
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: ARGS,
      viewport: { width: 1000, height: 640 },
      timeout: 30_000
    })
  } catch (err) {
    await rm(profile, { recursive: true, force: true })
    throw err
  }
  const debug = process.env.WSSTAR_BROWSER_DEBUG
  if (debug != null && debug !== '') {
    // before any page script: the debug module reads localStorage when it loads
    await context.addInitScript((namespaces) => { localStorage.setItem('debug', namespaces) }, debug)
  }
  return {
    context,
    async newPage (name) {
      const page = await context.newPage()
      page.on('pageerror', (err) => { process.stderr.write(`[${name}] uncaught: ${err.stack ?? err.message}\n`) })
      page.on('console', (msg) => {
        if (msg.type() === 'error') {
          process.stderr.write(`[${name}] console.error: ${msg.text()}\n`)
        } else if (debug != null && debug !== '') {
          process.stderr.write(`[${name}] ${new Date().toISOString()} ${msg.text()}\n`)
        }
      })
      return page
    },
    async close () {
      await context.close().catch(() => {})
      await rm(profile, { recursive: true, force: true })
    }
  }
}
