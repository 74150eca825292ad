/**
 * Drives the direct-upgrade example page (examples/browser/upgrade.html,
 * upgrade.js) as a user would, through its buttons, and reads what it shows:
 * each peer row's upgrade state and carrier, each transfer's line. Also reads
 * the rendezvous server's relayed-bytes counter from its /metrics.
 */
import { openExample, peerRow } from './example-app.js'
import type { ExampleApp } from './example-app.js'
import type { Page } from 'playwright-core'

/** the page's transfer protocol: the receiver answers `<sha256 hex> <bytes>`, like test/helpers/streams.ts's hashingSink */
export const SINK_PROTOCOL = '/wsstar-example/sink/1.0.0'
/** what the page's "send 8 MiB" button sends */
export const TRANSFER_BYTES = 8 * 1024 * 1024

export type UpgradeState = 'started' | 'direct' | 'failed' | 'retired'

/** A line of the page's transfer list. */
export interface Transfer {
  direction: 'in' | 'out'
  /** what carried it: 'direct' (WebRTC) or 'relayed' (through the server) */
  carrier?: string
  bytes?: number
  sha256?: string
  /** sender's side: the receiver's sha256 and byte count matched what was sent */
  verified?: boolean
  error?: string
}

/** Opens the upgrade page (`query` adds page options, e.g. `&ice=none`); returns the page node's peer id. */
export async function openUpgradePage (page: Page, app: ExampleApp, query = ''): Promise<string> {
  return await openExample(page, app, app.upgradeUrl + query)
}

/** Clicks `peerId`'s connect button: a dial through the server, after which the page's service starts the upgrade. */
export async function connectTo (page: Page, peerId: string): Promise<void> {
  const row = peerRow(page, peerId)
  await row.waitFor({ timeout: 15_000 })
  await page.bringToFront() // a hidden tab gets no animation frames, which clicks wait for
  await row.locator('button').click({ timeout: 10_000 })
}

/** Waits until the page's upgrade state for `peerId` is one of `states`; returns it. */
export async function upgradeState (page: Page, peerId: string, states: UpgradeState[], timeout: number): Promise<UpgradeState> {
  const handle = await page.waitForFunction(({ id, wanted }) => {
    const state = document.querySelector<HTMLElement>(`#peers li[data-peer-id="${id}"]`)?.dataset.upgrade
    return state != null && (wanted as string[]).includes(state) ? state : null
  }, { id: peerId, wanted: states }, { timeout })
  return await handle.jsonValue() as UpgradeState
}

/** Waits until the page says new streams to `peerId` go `carrier` ('direct' or 'relayed'). */
export async function carrierIs (page: Page, peerId: string, carrier: 'direct' | 'relayed', timeout: number): Promise<void> {
  await page.waitForFunction(({ id, wanted }) =>
    document.querySelector<HTMLElement>(`#peers li[data-peer-id="${id}"]`)?.dataset.carrier === wanted,
  { id: peerId, wanted: carrier }, { timeout })
}

/** The page's upgrade log, as shown. */
export async function upgradeLog (page: Page): Promise<string> {
  return await page.locator('#log').innerText({ timeout: 5_000 })
}

function transferOf (data: DOMStringMap): Transfer {
  return {
    direction: data.direction as 'in' | 'out',
    ...(data.carrier != null ? { carrier: data.carrier } : {}),
    ...(data.bytes != null ? { bytes: Number(data.bytes) } : {}),
    ...(data.sha256 != null ? { sha256: data.sha256 } : {}),
    ...(data.verified != null ? { verified: data.verified === 'true' } : {}),
    ...(data.error != null ? { error: data.error } : {})
  }
}

/** Selects `peerId`, clicks "send 8 MiB" and waits for the transfer's line; returns it. */
export async function sendTransfer (page: Page, peerId: string, timeout = 60_000): Promise<Transfer> {
  const lines = page.locator(`#transfers li[data-direction="out"][data-peer-id="${peerId}"]`)
  const before = await lines.count()
  await page.bringToFront()
  await peerRow(page, peerId).locator('.name').click({ timeout: 10_000 })
  await page.locator('#send').click({ timeout: 10_000 })
  await lines.nth(before).waitFor({ timeout })
  return transferOf(await lines.nth(before).evaluate((li: HTMLElement) => ({ ...li.dataset })))
}

/** Waits for the `nth` transfer the page received from `peerId`; returns its line. */
export async function receivedTransfer (page: Page, peerId: string, nth = 0, timeout = 60_000): Promise<Transfer> {
  const line = page.locator(`#transfers li[data-direction="in"][data-peer-id="${peerId}"]`).nth(nth)
  await line.waitFor({ timeout })
  return transferOf(await line.evaluate((li: HTMLElement) => ({ ...li.dataset })))
}

/** `wsstar_relayed_bytes_total` from the server's /metrics: payload bytes it relayed between peers. */
export async function relayedBytes (app: ExampleApp): Promise<number> {
  const res = await fetch(app.metricsUrl, { signal: AbortSignal.timeout(5_000) })
  const match = /^wsstar_relayed_bytes_total (\d+)$/m.exec(await res.text())
  if (match == null) {
    throw new Error('no wsstar_relayed_bytes_total in /metrics')
  }
  return Number(match[1])
}
