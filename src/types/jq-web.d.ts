/** jq compiled to WebAssembly; the module resolves to the loaded jq once its wasm is ready. */
declare module 'jq-web' {
  interface Jq {
    /**
     * Runs `filter` on a JSON text and returns jq's output text without its last newline, or
     * undefined when jq printed nothing; throws with jq's message and `exitCode` (3: does not compile).
     */
    raw(json: string, filter: string, flags?: string[]): string | undefined;
    json(value: unknown, filter: string): unknown;
  }
  const jq: Promise<Jq>;
  export default jq;
}
