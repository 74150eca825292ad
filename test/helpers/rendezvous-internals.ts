/**
 * A module of the rendezvous server's build that its package does not
 * export: the dependency adapters (`*-internals.ts`) the contract tests in
 * test/contracts/ check against the real libraries. Typed by the caller with
 * `typeof import('../../packages/rendezvous/src/<name>.js')` (a type query,
 * erased from the build); loaded at run time from packages/rendezvous/dist.
 */
export async function rendezvousModule<T> (name: string): Promise<T> {
  return await import(new URL(`../../../packages/rendezvous/dist/src/${name}.js`, import.meta.url).href) as T
}
