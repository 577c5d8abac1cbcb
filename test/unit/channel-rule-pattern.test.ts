import { describe, expect, it } from 'vitest';
import { channelRulePatternProblem } from '../../src/shared/schemas.js';

describe('channel rule patterns', () => {
  it.each([
    ['orders-*', null],
    ['orders-1', null],
    ['*', null],
    ['private-chat.eu_1=@,;-*', null],
    ['', /empty/],
    ['a**', /one \*, at the end only/],
    ['*orders', /one \*, at the end only/],
    ['orders-*-eu*', /one \*, at the end only/],
    ['or ders', /may contain only/],
    ['orders/*', /may contain only/],
    ['x'.repeat(165), /at most 164/],
  ])('%j', (pattern, problem) => {
    const found = channelRulePatternProblem(pattern);
    if (problem === null) expect(found).toBeNull();
    else expect(found).toMatch(problem);
  });
});
