/**
 * The browser example (examples/browser): its page, bundled by esbuild, and
 * a rendezvous server, started in this process by its serve.mjs. The tests
 * drive the same page users copy from.
 */
import { pino } from 'pino'
import type { RendezvousServer } from '@wsstar/rendezvous'
import type { Page } from 'playwright-core'

const EXAMPLE_DIR = new URL('../../../examples/browser/', import.meta.url)

export interface ExampleApp {
  /** the example page, with `?server=` naming the rendezvous server */
  url: string
  /** the direct-upgrade example page, with `?server=` naming the rendezvous server */
  upgradeUrl: string
  /** the rendezvous server's status page */
  statusUrl: string
  /** the rendezvous server's Prometheus metrics */
  metricsUrl: string
  /** the websocket-star listen address on the rendezvous server */
  serverAddr: string
  rendezvous: RendezvousServer
  close(): Promise<void>
}

export interface BundleReport {
  files: Map<string, Uint8Array>
  /** every module esbuild put in the bundle */
  inputs: string[]
}

/** Bundles the example as serve.mjs does, for a look at what went in. */
export async function buildExampleBundle (): Promise<BundleReport> {
  const { buildBundle } = await import(new URL('build.mjs', EXAMPLE_DIR).href)
  const { files, metafile } = await buildBundle()
  return { files, inputs: Object.keys(metafile.inputs) }
}

/** Starts the example on free loopback ports. */
export async function startExampleApp (): Promise<ExampleApp> {
  const { startExample } = await import(new URL('serve.mjs', EXAMPLE_DIR).href)
  return await startExample({ port: 0, rendezvousPort: 0, logger: pino({ level: 'silent' }) })
}

/**
 * Opens an example page (the chat page unless `url` names another) and waits
 * until its node is listening on the server; returns its peer id.
 */
export async function openExample (page: Page, app: ExampleApp, url = app.url): Promise<string> {
  await page.goto(url)
  await page.locator('#addrs li').first().waitFor({ timeout: 20_000 })
  const peerId = (await page.locator('#peer-id').textContent()) ?? ''
  if (!peerId.startsWith('12D3Koo')) {
    throw new Error(`the page shows no peer id: ${peerId}`)
  }
  return peerId
}

/** The page's row for a discovered peer. */
export function peerRow (page: Page, peerId: string): ReturnType<Page['locator']> {
  return page.locator(`#peers li[data-peer-id="${peerId}"]`)
}

/** Selects `peerId`, clicks its connect button and waits for the ping result in the log; returns the rtt. */
export async function connectAndPing (page: Page, peerId: string): Promise<number> {
  const row = peerRow(page, peerId)
  await row.waitFor({ timeout: 15_000 })
  const pings = page.locator('#log li', { hasText: /connected, ping \d+ ms/ })
  const before = await pings.count()
  await page.bringToFront() // a hidden tab gets no animation frames, which clicks wait for
  await row.locator('button').click()
  const done = page.locator('#log li', { hasText: /connected, ping \d+ ms|dial failed/ })
  await done.nth(before).waitFor({ timeout: 20_000 })
  const text = await done.nth(before).textContent() ?? ''
  const match = /connected, ping (\d+) ms/.exec(text)
  if (match == null) {
    throw new Error(`the page could not connect: ${text}`)
  }
  return Number(match[1])
}

/** Types `text` into the chat box and sends it to the selected peer; waits for the page to log it as sent. */
export async function sendChat (page: Page, text: string): Promise<void> {
  await page.bringToFront()
  await page.fill('#message', text)
  await page.click('#send')
  await page.locator('#log li.out', { hasText: text }).waitFor({ timeout: 15_000 })
}

/** Waits for an incoming chat message in the page's log. */
export async function receivedChat (page: Page, text: string): Promise<void> {
  await page.locator('#log li.in', { hasText: text }).waitFor({ timeout: 15_000 })
}
