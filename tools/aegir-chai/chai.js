// Mirrors aegir/chai: chai with the plugins aegir installs, exported as expect/assert.
// - chai-as-promised: `.eventually`, `.rejected`, ...
// - chai-bites: `.equalBytes(...)` for Uint8Arrays
// - chai-parentheses: property assertions also callable, e.g. `.exist()`, `.empty()`, `.rejected()`
import * as chai from 'chai'
import chaiAsPromised from 'chai-as-promised'
import chaiBites from 'chai-bites'
import chaiParentheses from 'chai-parentheses'

chai.use(chaiAsPromised)
chai.use(chaiBites)
// chai 5's ESM `util` namespace is frozen and chai-parentheses assigns hooks
// onto it (for assertions added later); every plugin is already in, so give
// it a mutable copy instead
chaiParentheses(chai, { ...chai.util })

export const expect = chai.expect
export const assert = chai.assert
export { chai }
