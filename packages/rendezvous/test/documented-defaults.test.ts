/**
 * The defaults the docs state are the code's: README.md's option table, its
 * limits table (what `npm run docs:limits` writes from limits.ts; each
 * documented default, given as that flag's value, parses to the code's),
 * the `@default` of every field of RendezvousLimits and of the limits of
 * ClusterOptions, and the "`name` (default …)" or "`name`, default …"
 * mentions of limits in docs/PROTOCOL.md and docs/CLUSTER.md; the package
 * README's options table names every server option.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { describe, it } from 'node:test'
import { parseCli } from '../src/cli-options.js'
import { DEFAULT_HOST, DEFAULT_PORT } from '../src/index.js'
import { CLUSTER_LIMITS, LIMITS, formatDefault } from '../src/limits.js'
import type { Limit } from '../src/limits.js'

const ROOT = new URL('../../../../', import.meta.url)
const read = (path: string): string => readFileSync(new URL(path, ROOT), 'utf8')
/** every limit by its name, the cluster's too */
const LIMIT_OF = new Map<string, Limit<string>>([...LIMITS, ...CLUSTER_LIMITS].map(l => [l.name, l]))

/** The rows of the first markdown table whose header row starts with `header`, as cells. */
function table (markdown: string, header: string): string[][] {
  const lines = markdown.split('\n')
  const start = lines.findIndex(l => l.startsWith(header))
  assert.ok(start >= 0, `a table headed "${header}"`)
  const rows: string[][] = []
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break
    rows.push(line.split('|').slice(1, -1).map(c => c.trim()))
  }
  return rows
}

/** scripts/docs-limits.mjs, which writes README.md's limits table */
const docsLimits = async (): Promise<{ withLimitsTable: (markdown: string) => string, BEGIN: string, END: string }> =>
  await import(new URL('scripts/docs-limits.mjs', ROOT).href)

const flagsOf = (cell: string): string[] => [...cell.matchAll(/`--([a-z0-9-]+)/g)].map(m => m[1])

/** A documented default ("128 KiB", "10/s", "10 s") as the value of its flag, parsed by the CLI. */
function parsed (flag: string, documented: string): number | undefined {
  const limit = LIMIT_OF.get(flag)
  assert.ok(limit != null, `--${flag} is a limit`)
  const cores = /^cores − 1, at most (\d+)$/.exec(documented)
  if (cores != null) return Math.min(Number(cores[1]), Math.max(0, availableParallelism() - 1))
  const raw = documented.replace(/\/s$/, '').replace(/(\d) +([a-z])/i, '$1$2')
  if (CLUSTER_LIMITS.some(l => l === limit)) {
    const cluster = parseCli(['--redis-url', 'redis://127.0.0.1:6379', `--${flag}`, raw]).options.cluster as unknown as Record<string, number>
    return cluster[limit.key]
  }
  return (parseCli([`--${flag}`, raw]).options.limits as Record<string, number>)[limit.key]
}

/** `[field, its @default]` of each `name: number` / `name?: number` field with a doc comment in `interface <name>` of options.ts */
function jsdocDefaults (name: string): Array<[string, string | undefined]> {
  const source = read('packages/rendezvous/src/options.ts')
  const body = new RegExp(`export interface ${name} \\{([\\s\\S]*?)\\n\\}`).exec(source)?.[1] ?? ''
  assert.ok(body !== '', `interface ${name} in options.ts`)
  return [...body.matchAll(/\/\*\*((?:(?!\*\/)[\s\S])*)\*\/\n {2}([a-zA-Z]+)\??: number/g)]
    .map(([, doc, key]) => [key, /@default (.+)$/m.exec(doc)?.[1]?.trim()])
}

describe('documented defaults', () => {
  it('README: --port and --host defaults', () => {
    const rows = table(read('README.md'), '| flag | env | default |')
    const byFlag = new Map(rows.map(r => [flagsOf(r[0])[0], r[2]]))
    assert.equal(byFlag.get('port'), String(DEFAULT_PORT))
    assert.equal(byFlag.get('host'), DEFAULT_HOST)
  })

  it('README: the limits table is the one npm run docs:limits writes from limits.ts', async () => {
    const { withLimitsTable, BEGIN, END } = await docsLimits()
    const section = (markdown: string): string => markdown.slice(markdown.indexOf(BEGIN), markdown.indexOf(END))
    const readme = read('README.md')
    assert.ok(readme.includes(BEGIN) && readme.includes(END), 'README.md has the markers of the limits table')
    assert.equal(section(readme), section(withLimitsTable(readme)), 'README.md\'s limits table is stale: run npm run docs:limits')
  })

  it('README: the limits table has every limit, with a default that parses to the code\'s', () => {
    const documented = new Map<string, string>()
    for (const [flagCell, , defaultCell] of table(read('README.md'), '| flag | env | default | what it bounds |')) {
      const flags = flagsOf(flagCell)
      assert.equal(flags.length, 1, `one flag in the row of ${flagCell}`)
      documented.set(flags[0], defaultCell)
    }
    assert.deepEqual([...documented.keys()].filter(f => !LIMIT_OF.has(f)), [], 'rows of flags that are not limits')
    assert.deepEqual([...LIMIT_OF.keys()].filter(name => !documented.has(name)), [], 'limits without a row')
    for (const [flag, value] of documented) {
      const limit = LIMIT_OF.get(flag) as Limit<string>
      assert.equal(parsed(flag, value), limit.default, `--${flag}: README says ${value}, the code's default is ${limit.default}`)
    }
  })

  for (const [name, limits] of [['RendezvousLimits', LIMITS], ['ClusterOptions', CLUSTER_LIMITS]] as const) {
    it(`options.ts: the limits in ${name} have the @default of limits.ts`, () => {
      const fields = jsdocDefaults(name)
      assert.deepEqual(fields.map(f => f[0]), limits.map(l => l.key), `the number fields of ${name}, each with its doc comment, in the table's order`)
      for (const [key, value] of fields) {
        const limit = limits.find(l => l.key === key) as Limit<string>
        assert.equal(value, formatDefault(limit), `${key}: @default`)
      }
    })
  }

  it('packages/rendezvous/README.md: the options table has every option of createRendezvousServer', () => {
    const source = read('packages/rendezvous/src/options.ts')
    const body = /export interface RendezvousServerOptions \{([\s\S]*?)\n\}/.exec(source)?.[1] ?? ''
    const options = [...body.matchAll(/^ {2}([a-zA-Z]+)\??:/gm)].map(m => m[1])
    assert.ok(options.includes('port'), 'the options interface was found')
    const documented = table(read('packages/rendezvous/README.md'), '| option | default |').flatMap(r => [...r[0].matchAll(/`([a-zA-Z]+)`/g)].map(m => m[1]))
    assert.deepEqual(options.filter(o => !documented.includes(o)), [], 'options without a row')
  })

  for (const doc of ['docs/PROTOCOL.md', 'docs/CLUSTER.md']) {
    it(`${doc}: every "\`limit\` … (default …)" states the code's default`, () => {
      const mentions = [...read(doc).matchAll(/`([a-z0-9-]+)`[^`(.]{0,30}?[(,] ?default ([^;),:]+)/g)].filter(m => LIMIT_OF.has(m[1]))
      assert.ok(mentions.length > 0, `${doc} states some limit's default`)
      for (const [text, flag, value] of mentions) {
        assert.equal(parsed(flag, value.trim()), LIMIT_OF.get(flag)?.default, `${doc}: "${text}"`)
      }
    })
  }
})
