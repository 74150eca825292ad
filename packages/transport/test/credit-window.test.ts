import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ReceiveCredit, SendCredit } from '../src/credit-window.js'
import { FlowControlError } from '../src/errors.js'

describe('SendCredit', () => {
  it('spends and regains credit, never above the window', () => {
    const credit = new SendCredit(1000)
    credit.spend(600)
    assert.equal(credit.available, 400)
    assert.throws(() => { credit.spend(401) }, FlowControlError)
    credit.grant(250)
    assert.equal(credit.available, 650)
    credit.grant(10_000)
    assert.equal(credit.available, 1000)
  })
})

describe('ReceiveCredit', () => {
  it('grants in batches of a quarter window, only for consumed bytes', () => {
    const credit = new ReceiveCredit(1000)
    assert.equal(credit.batch, 250)
    credit.receive(600)
    // nothing consumed yet: all 600 bytes still unread
    assert.equal(credit.consume(600), 0)
    // 200 consumed: below a batch
    assert.equal(credit.consume(400), 0)
    // 300 consumed: one grant for all of it
    assert.equal(credit.consume(300), 300)
    assert.equal(credit.consume(300), 0)
    assert.equal(credit.consume(0), 300)
    assert.equal(credit.credited, 600)
  })

  it('never grants for bytes it has not received, even when unread shrinks oddly', () => {
    const credit = new ReceiveCredit(1000)
    credit.receive(300)
    assert.equal(credit.consume(-50), 300)
    assert.equal(credit.consume(0), 0)
    // bytes pushed back (unshift) into the read buffer do not take credit back
    assert.equal(credit.consume(200), 0)
  })

  it('rejects a sender that goes over its credit', () => {
    const credit = new ReceiveCredit(1000)
    credit.receive(1000)
    assert.throws(() => { credit.receive(1) }, FlowControlError)
    assert.equal(credit.consume(0), 1000)
    credit.receive(1000)
    assert.equal(credit.outstanding, 0)
  })
})
