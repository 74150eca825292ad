// Bundles the example pages' scripts (app.js: chat; upgrade.js: the direct
// WebRTC upgrade) and their dependencies (libp2p, @wsstar/transport,
// @libp2p/webrtc, ...) for the browser with esbuild: one ES module per page,
// no Node.js shims. A Node-only import anywhere in the graph fails the build
// (platform: 'browser').
//   node examples/browser/build.mjs [outdir]   writes app.js, upgrade.js and their .map files
import { basename } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import * as esbuild from 'esbuild'

/** the page scripts, each bundled on its own */
export const PAGES = ['app.js', 'upgrade.js']

/**
 * @param {{ outdir?: string, minify?: boolean }} [options] without `outdir`
 *   the files stay in memory
 * @returns {Promise<{ files: Map<string, Uint8Array>, metafile: import('esbuild').Metafile }>}
 *   output files by name (`app.js`, `app.js.map`, `upgrade.js`, `upgrade.js.map`)
 */
export async function buildBundle ({ outdir, minify = false } = {}) {
  const result = await esbuild.build({
    entryPoints: PAGES.map(script => fileURLToPath(new URL(`./${script}`, import.meta.url))),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify,
    sourcemap: 'linked',
    metafile: true,
    write: outdir != null,
    outdir: outdir ?? fileURLToPath(new URL('./dist', import.meta.url)),
    logLevel: 'warning'
  })
  const files = new Map((result.outputFiles ?? []).map(f => [basename(f.path), f.contents]))
  return { files, metafile: result.metafile }
}

if (process.argv[1] != null && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const outdir = process.argv[2] ?? fileURLToPath(new URL('./dist', import.meta.url))
  await buildBundle({ outdir, minify: true })
  console.log(`bundle written to ${outdir}`)
}
