/**
 * The router's side of `serve --handoff`: once a host-routed exchange's answer went out whole, the
 * client's connection goes to the instance (router/invoker.ts handOff), which serves the rest of
 * it (runtime/handoff.ts). Only a connection with nothing of a next request read yet: node's
 * parser has taken all it read, so a pipelined request, even a part of one, would be lost with
 * the router's copy. Node tells when a message begins (its parser calls kOnMessageBegin at a
 * message's first byte); counting those against the requests seen says whether one did.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Invocation } from './invoker.js';

interface Counts {
  /** Messages whose first byte node's parser read on this connection. */
  begun: number;
  /** Requests the data plane saw on it. */
  seen: number;
  /** Of those, the ones not answered yet (node parses pipelined ones ahead of the answers). */
  open: number;
}

const COUNTS = Symbol('warren.handoffCounts');
type Counted = Socket & { [COUNTS]?: Counts | null; parser?: Record<number, unknown> & { constructor: { kOnMessageBegin?: unknown } } };

/** Called for each request that may end in a handoff: counts it, and on the connection's first
 * one makes node's parser count the messages that begin. */
export function countRequest(req: IncomingMessage, res: ServerResponse): void {
  const socket = req.socket as Counted;
  let counts = socket[COUNTS];
  if (counts === null) return;
  if (counts === undefined) {
    const parser = socket.parser;
    const key = parser?.constructor.kOnMessageBegin;
    if (!parser || typeof key !== 'number') {
      socket[COUNTS] = null; // another node: cannot tell, so never handed over
      return;
    }
    const made: Counts = { begun: 1, seen: 0, open: 0 };
    const before = parser[key];
    // node's parser is freed (and this reset) when the connection closes: never another's
    parser[key] = function (this: unknown, ...args: unknown[]) {
      made.begun++;
      return typeof before === 'function' ? before.apply(this, args) : undefined;
    };
    socket[COUNTS] = counts = made;
  }
  counts.seen++;
  counts.open++;
  const c = counts;
  res.once('close', () => c.open--);
}

/**
 * Ends the exchange of `inv` once node has written its answer: the connection goes to the
 * instance when it can, else (and when the client went away first) the invocation is released.
 */
export function releaseOrHandOff(req: IncomingMessage, res: ServerResponse, inv: Invocation): void {
  let settled = false;
  const settle = (handed: boolean) => {
    if (settled) return;
    settled = true;
    if (!handed) void inv.release('ok');
  };
  // node's own 'finish' listener ran first: a connection it is closing is ended already
  res.once('finish', () => settle(handOff(req, inv)));
  res.once('close', () => settle(false));
}

function handOff(req: IncomingMessage, inv: Invocation): boolean {
  const socket = req.socket as Counted;
  const counts = socket[COUNTS];
  // this answer is the only one under way, and no byte of a next request came
  if (!counts || counts.open !== 1 || counts.begun !== counts.seen || !req.complete || socket.destroyed || socket.writableEnded || !inv.handOff) return false;
  if (!inv.handOff(socket)) return false;
  socket.destroy();
  return true;
}
