/**
 * A lingering close, for a connection that ends with an answer while its request's body is still
 * coming (a 413, an error answered before the upload ended): the answer and a FIN go out, then
 * what the client still sends is read and dropped, until it closes its side, LINGER_MS passed or
 * LINGER_BYTES came, and only then is the socket closed.
 *
 * Node closes such a connection as soon as its answer is written (the server's resOnFinish calls
 * socket.destroySoon()), and a socket closed with unread bytes makes the kernel send a RST. A
 * client still writing its body then fails its next write and never reads the answer it was
 * sent: 26 of 40 node clients writing a 1 GiB body 64 KiB at a time got no 413 at all, and 2 of
 * 40 that read between their writes (as curl does). Go's net/http and nginx's lingering_close do
 * this for the same reason.
 */
import type { Socket } from 'node:net';

/** How long a client gets to read the answer while it still sends. */
export const LINGER_MS = 1000;
/** What is read and dropped at most, meanwhile. */
export const LINGER_BYTES = 64 * 1024 * 1024;

const LINGERS = Symbol('warren.lingers');
type Lingering = Socket & { [LINGERS]?: true };

/** Makes the close node does after this connection's answer (destroySoon) a lingering one. */
export function lingerOnClose(socket: Socket | null | undefined): void {
  const s = socket as Lingering | null | undefined;
  if (!s || s.destroyed || s[LINGERS]) return;
  s[LINGERS] = true;
  let started = false;
  s.destroySoon = function (this: Socket) {
    if (started) return;
    started = true;
    if (s.writable) s.end();
    let dropped = 0;
    const timer = setTimeout(() => s.destroy(), LINGER_MS);
    timer.unref();
    s.on('data', (d: Buffer) => {
      dropped += d.length;
      if (dropped > LINGER_BYTES) s.destroy();
    });
    // the client ended its side: nothing is left unread, the close is a clean one
    s.once('end', () => s.destroy());
    s.once('close', () => clearTimeout(timer));
    s.resume();
  };
}
