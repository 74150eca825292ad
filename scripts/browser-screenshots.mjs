#!/usr/bin/env node
// Regenerates docs/example-page.png, docs/status-page.png and
// docs/upgrade-page.png: runs the browser example, opens two pages in headless
// Debian Chromium, lets them chat, and photographs one page and the server's
// status page; then two upgrade pages: one connects (and upgrades) and sends
// 8 MiB to the other, and is photographed.
//   npm run build && node scripts/browser-screenshots.mjs
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium } from 'playwright-core'
import { pino } from 'pino'
import { startExample } from '../examples/browser/serve.mjs'

const docs = new URL('../docs/', import.meta.url).pathname
const example = await startExample({ port: 0, rendezvousPort: 0, logger: pino({ level: 'silent' }) })
const profile = await mkdtemp(join(tmpdir(), 'wsstar-chromium-'))
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.WSSTAR_CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  viewport: { width: 1000, height: 540 }
})
try {
  const status = await context.newPage()
  await status.goto(example.statusUrl)
  const [alice, bob] = [await context.newPage(), await context.newPage()]
  for (const page of [alice, bob]) {
    await page.goto(example.url)
    await page.locator('#addrs li').waitFor({ timeout: 20_000 })
  }
  await alice.locator('#peers li button').click()
  await alice.locator('#log li', { hasText: 'connected, ping' }).waitFor({ timeout: 20_000 })
  await alice.fill('#message', 'hello from a browser tab')
  await alice.click('#send')
  await bob.locator('#log li.in').waitFor({ timeout: 10_000 })
  await bob.fill('#message', 'hi! relayed through the rendezvous server')
  await bob.click('#send')
  await alice.locator('#log li.in').waitFor({ timeout: 10_000 })
  await alice.screenshot({ path: join(docs, 'example-page.png') })
  await status.waitForTimeout(6000) // a few seconds of peer history
  await status.setViewportSize({ width: 1000, height: 440 })
  await status.screenshot({ path: join(docs, 'status-page.png') })

  // the chat pages leave, so the upgrade pages list only each other
  await Promise.all([alice.close(), bob.close()])
  const [carol, dave] = [await context.newPage(), await context.newPage()]
  for (const page of [carol, dave]) {
    await page.goto(`${example.upgradeUrl}&grace=1000`)
    await page.locator('#addrs li').waitFor({ timeout: 20_000 })
  }
  const daveId = await dave.locator('#peer-id').textContent()
  await carol.bringToFront()
  await carol.locator(`#peers li[data-peer-id="${daveId}"] button`).click({ timeout: 15_000 })
  await carol.waitForFunction((id) => document.querySelector(`#peers li[data-peer-id="${id}"]`)?.dataset.upgrade === 'retired', daveId, { timeout: 30_000 })
  await carol.locator(`#peers li[data-peer-id="${daveId}"] .name`).click()
  await carol.click('#send')
  await carol.locator('#transfers li').waitFor({ timeout: 60_000 })
  await carol.setViewportSize({ width: 1000, height: 760 })
  await carol.evaluate(() => { window.scrollTo(0, 0) }) // the log scrolled the page to its last line
  await carol.screenshot({ path: join(docs, 'upgrade-page.png') })
  console.log(`wrote ${join(docs, 'example-page.png')}, ${join(docs, 'status-page.png')} and ${join(docs, 'upgrade-page.png')}`)
} finally {
  await context.close()
  await rm(profile, { recursive: true, force: true })
  await example.close()
}
