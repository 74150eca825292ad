/**
 * The layout of src/ holds: every import of a src file stays within what its
 * folder's README.md (for the files at the top, src/README.md) says it may
 * import, the runtime imports between folders form no loop, and
 * docs/ARCHITECTURE.md states the same rules. Read from the import
 * statements of the sources, nothing is run.
 */
import assert from 'node:assert/strict'
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs'
import { join, normalize, relative } from 'node:path'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'

const SRC = fileURLToPath(new URL('../../src/', import.meta.url))
const ROOT = fileURLToPath(new URL('../../../../', import.meta.url))
/** what may be imported from anywhere: the rest of the package is not src */
const EVERYTHING = 'everything'

/** A place of the layout: a folder (`join/`) or a file at the top (`server.ts`). */
type Unit = string

interface Import { from: string, to: string, unit: Unit, typeOnly: boolean }

function sourceFiles (dir = SRC): string[] {
  return readdirSync(dir).flatMap(name => {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) return sourceFiles(path)
    return name.endsWith('.ts') ? [relative(SRC, path)] : []
  })
}

function unitOf (file: string): Unit {
  const slash = file.indexOf('/')
  return slash < 0 ? file : file.slice(0, slash + 1)
}

/** `import ... from`, `export ... from` and `import()` of relative paths; `import type` / `export type` are type-only. */
function importsOf (file: string, text: string): Import[] {
  const found: Import[] = []
  const statement = /^\s*(import|export)\s+(type\s+)?(?:[^'";]*?\s+from\s+)?'(\.{1,2}\/[^']+)'/gm
  const dynamic = /import\(\s*'(\.{1,2}\/[^']+)'\s*\)/g
  const add = (specifier: string, typeOnly: boolean): void => {
    const to = normalize(join(file, '..', specifier)).replace(/\.js$/, '.ts')
    assert.ok(existsSync(join(SRC, to)), `${file} imports ${specifier}, which is no file of src/`)
    found.push({ from: file, to, unit: unitOf(to), typeOnly })
  }
  for (const m of text.matchAll(statement)) add(m[3], m[2] != null)
  for (const m of text.matchAll(dynamic)) add(m[1], false)
  return found
}

/** `May import: a/, b.ts, ...` -> the units; `(nothing of src/)` -> none. */
function parseMayImport (list: string): Set<Unit> {
  const units = list.split(',').map(s => s.trim().replace(/^`|`$/g, '')).filter(s => s !== '' && !s.startsWith('('))
  for (const unit of units) {
    assert.ok(unit === EVERYTHING || unit.endsWith('/') || unit.endsWith('.ts'), `"${unit}" names no folder or file`)
  }
  return new Set(units)
}

/** unit -> what it may import, from each folder's README.md and the list of top files in src/README.md */
function rules (): Map<Unit, Set<Unit>> {
  const rules = new Map<Unit, Set<Unit>>()
  for (const name of readdirSync(SRC)) {
    if (!statSync(join(SRC, name)).isDirectory()) continue
    const readme = join(SRC, name, 'README.md')
    assert.ok(existsSync(readme), `src/${name}/ has a README.md saying what it owns and may import`)
    const lines = readFileSync(readme, 'utf8').split('\n').filter(l => l.startsWith('May import:'))
    assert.equal(lines.length, 1, `src/${name}/README.md has one "May import:" line`)
    rules.set(`${name}/`, parseMayImport(lines[0].slice('May import:'.length)))
  }
  for (const line of readFileSync(join(SRC, 'README.md'), 'utf8').split('\n')) {
    const m = /^- ((?:`[^`]+\.ts`(?:, )?)+): .* May import: (.+)$/.exec(line)
    if (m == null) continue
    const allowed = parseMayImport(m[2])
    for (const file of m[1].split(', ')) rules.set(file.replace(/`/g, ''), allowed)
  }
  return rules
}

function allowed (rules: Map<Unit, Set<Unit>>, from: Unit, to: Unit): boolean {
  const may = rules.get(from)
  return from === to || may?.has(EVERYTHING) === true || may?.has(to) === true
}

/** A loop of units through runtime imports, or undefined. */
function runtimeLoop (imports: Import[]): Unit[] | undefined {
  const edges = new Map<Unit, Set<Unit>>()
  for (const i of imports) {
    const from = unitOf(i.from)
    if (i.typeOnly || from === i.unit) continue
    if (!edges.has(from)) edges.set(from, new Set())
    edges.get(from)?.add(i.unit)
  }
  const state = new Map<Unit, 'open' | 'done'>()
  const path: Unit[] = []
  const visit = (unit: Unit): Unit[] | undefined => {
    if (state.get(unit) === 'done') return undefined
    if (state.get(unit) === 'open') return [...path.slice(path.indexOf(unit)), unit]
    state.set(unit, 'open')
    path.push(unit)
    for (const next of edges.get(unit) ?? []) {
      const loop = visit(next)
      if (loop != null) return loop
    }
    path.pop()
    state.set(unit, 'done')
    return undefined
  }
  for (const unit of edges.keys()) {
    const loop = visit(unit)
    if (loop != null) return loop
  }
  return undefined
}

describe('layout of src/', () => {
  const files = sourceFiles()
  const imports = files.flatMap(file => importsOf(file, readFileSync(join(SRC, file), 'utf8')))

  it('every file is in a folder with rules, or at the top with rules of its own', () => {
    const known = rules()
    for (const file of files) {
      assert.ok(known.has(unitOf(file)), `src/${file}: no rule says what ${unitOf(file)} may import (its folder's README.md, or src/README.md for a file at the top)`)
    }
  })

  it('every import stays within what its folder may import', () => {
    const known = rules()
    const broken = imports.filter(i => !allowed(known, unitOf(i.from), i.unit)).map(i => `src/${i.from} imports src/${i.to}`)
    assert.deepEqual(broken, [], `imports the rules do not allow:\n${broken.join('\n')}`)
    // a folder's rules are not wider than its code: each folder it may import, it imports
    const used = new Set(imports.map(i => `${unitOf(i.from)} -> ${i.unit}`))
    const unused = [...known].filter(([from]) => from.endsWith('/')).flatMap(([from, may]) => [...may].filter(to => to !== from && !used.has(`${from} -> ${to}`)).map(to => `${from} -> ${to}`))
    assert.deepEqual(unused, [], `rules that allow an import nothing makes:\n${unused.join('\n')}`)
  })

  it('the imports that run (not type-only) between folders form no loop', () => {
    assert.equal(runtimeLoop(imports)?.join(' -> '), undefined)
  })

  it('docs/ARCHITECTURE.md states the same rules', () => {
    const doc = readFileSync(join(ROOT, 'docs/ARCHITECTURE.md'), 'utf8')
    const known = rules()
    const stated = new Map<Unit, Set<Unit>>()
    for (const line of doc.split('\n')) {
      // | `join/` | ... | session/, discovery/, ... |
      const cells = line.split('|').slice(1, -1).map(c => c.trim())
      const m = /^`([^`]+)`$/.exec(cells[0] ?? '')
      if (m == null || cells.length < 3) continue
      stated.set(m[1], parseMayImport(cells[cells.length - 1]))
    }
    for (const [unit, may] of known) {
      if (!unit.endsWith('/')) continue
      assert.deepEqual([...stated.get(unit) ?? ['(missing)']].sort(), [...may].sort(), `docs/ARCHITECTURE.md's row of ${unit}`)
    }
  })
})
