// Bundles app.js and its dependencies (libp2p, @wsstar/transport, ...) for
// the browser with esbuild: one ES module, no Node.js shims. A Node-only
// import anywhere in the graph fails the build (platform: 'browser').
//   node examples/browser/build.mjs [outdir]   writes app.js + app.js.map
import { basename } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import * as esbuild from 'esbuild'

/**
 * @param {{ outdir?: string, minify?: boolean }} [options] without `outdir`
 *   the files stay in memory
 * @returns {Promise<{ files: Map<string, Uint8Array>, metafile: import('esbuild').Metafile }>}
 *   output files by name (`app.js`, `app.js.map`)
 */
export async function buildBundle ({ outdir, minify = false } = {}) {
  const result = await esbuild.build({
    entryPoints: [fileURLToPath(new URL('./app.js', import.meta.url))],
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
