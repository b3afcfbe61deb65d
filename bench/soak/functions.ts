/**
 * The soak's mix of functions, each with what its answers must be. Benign ones (fast, slow,
 * stream, log, churn) must always answer 200 with their body; hostile ones fail in the one way
 * they are built to (throw: 500, loop: a 504 past its timeout, oom: a 502 that says "out of
 * memory"), and those failures are expected. `churn` is redeployed, rolled back and has
 * short-lived neighbours (`tmp-N`) deployed and deleted all along (churn.ts).
 */

export interface SoakFunction {
  name: string;
  module: string;
  limits?: Record<string, unknown>;
  egress?: 'none' | 'public';
  /** Pause between one worker's requests (the hostile ones are asked less often). */
  pauseMs: number;
  workers: number;
  /** The class of an answer: 'ok', an expected failure's name, or undefined (unexpected). */
  judge(status: number, body: string): string | undefined;
}

const ok = (expected: RegExp) => (status: number, body: string) => (status === 200 && expected.test(body) ? 'ok' : undefined);

export const FUNCTIONS: readonly SoakFunction[] = [
  {
    name: 'fast',
    module: `export default { fetch: () => new Response('fast') }`,
    pauseMs: 0,
    workers: 2,
    judge: ok(/^fast$/),
  },
  {
    name: 'slow',
    module: `export default { async fetch() { await new Promise((r) => setTimeout(r, 300)); return new Response('slow'); } }`,
    // egress public: its instances need the nftables table (the table-removed fault)
    egress: 'public',
    pauseMs: 0,
    workers: 2,
    judge: ok(/^slow$/),
  },
  {
    name: 'stream',
    module: `export default { fetch() {
      let i = 0;
      const body = new ReadableStream({ async pull(c) {
        if (i === 10) return c.close();
        await new Promise((r) => setTimeout(r, 20));
        c.enqueue(new TextEncoder().encode('chunk' + i++ + ';'));
      } });
      return new Response(body);
    } }`,
    pauseMs: 50,
    workers: 1,
    judge: ok(/^(chunk\d;){9}chunk9;$/),
  },
  {
    name: 'log',
    // 200 lines of 200 bytes a request: past the log store's rate, so it drops and counts
    module: `export default { fetch() { for (let i = 0; i < 200; i++) console.log('flood ' + i + ' ' + 'x'.repeat(190)); return new Response('logged'); } }`,
    pauseMs: 100,
    workers: 1,
    judge: ok(/^logged$/),
  },
  {
    name: 'throw',
    module: `export default { fetch() { throw new Error('thrown on purpose'); } }`,
    pauseMs: 500,
    workers: 1,
    judge: (status) => (status === 500 ? 'thrown' : undefined),
  },
  {
    name: 'loop',
    module: `export default { fetch() { for (;;); } }`,
    limits: { timeout_ms: 1000 },
    // each request burns a core for its timeout: asked seldom on a 2-core machine
    pauseMs: 3000,
    workers: 1,
    // its own timeout, or, while its last instance is being replaced, the queue's (the same)
    judge: (status, body) => (status === 504 && /WARREN_FN_(QUEUE_)?TIMEOUT/.test(body) ? 'timeout' : undefined),
  },
  {
    name: 'oom',
    module: `export default { fetch() { const a = []; for (;;) a.push(Buffer.alloc(1 << 20, 1)); } }`,
    limits: { memory: '64m', timeout_ms: 20000 },
    pauseMs: 1000,
    workers: 1,
    judge: (status, body) => (status === 502 && /out of memory/.test(body) ? 'oom' : undefined),
  },
];

/** Version N of the function that is redeployed all along: it answers with its N. */
export function churnModule(n: number): string {
  return `export default { fetch: () => new Response('churn v${n}') }`;
}

export const CHURN: SoakFunction = {
  name: 'churn',
  module: churnModule(1),
  pauseMs: 20,
  workers: 1,
  judge: ok(/^churn v\d+$/),
};

export function tmpModule(n: number): string {
  return `export default { fetch: () => new Response('tmp ${n}') }`;
}
