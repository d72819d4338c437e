import { expect } from 'chai';
import { ResourceTracker } from '../src/harness/tracker.js';

describe('ResourceTracker (unit)', () => {
  it('removes resources newest first, once, and keeps going after an error', () => {
    const t = new ResourceTracker();
    const order: string[] = [];
    t.track('netns', 'a', () => order.push('a'));
    t.track('netns', 'b', () => {
      order.push('b');
      throw new Error('boom');
    });
    const removeC = t.track('process', 'c', () => order.push('c'));
    removeC();
    removeC();
    expect(t.resources.map((r) => r.name)).to.deep.equal(['a', 'b']);
    t.cleanupSync();
    t.cleanupSync();
    expect(order).to.deep.equal(['c', 'b', 'a']);
    expect(t.errors).to.have.length(1);
    expect(t.errors[0].message).to.include('netns b');
  });
});
