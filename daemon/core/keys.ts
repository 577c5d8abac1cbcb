/** One Map key of several strings; NUL cannot occur in ids, names or channel names, so no two lists share a key. */
export const compositeKey = (...parts: string[]): string => parts.join('\u0000');
