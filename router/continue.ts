/**
 * `Expect: 100-continue` for a server whose handler reads the body only once it has checked the
 * request (the control API: its token, its route, a body's declared size): `100 Continue` goes out
 * when the handler first reads the body, so a 401, 404 or 413 is answered before the client sends
 * any of it. Node says 100 Continue to every such request at once by itself (curl asks past
 * 1 MiB: a deploy's bundle of 30 MiB was sent whole only to be refused).
 */
import type http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';

type Readable = IncomingMessage & { _read(size: number): void };

/** Node's checkContinue, answered by the first read of the body instead of at once. */
export function continueOnRead(server: http.Server): void {
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    const r = req as Readable;
    const read = r._read;
    r._read = function (size: number): void {
      r._read = read;
      // a read after the answer began (an unread body drained once it is out) gets none
      if (!res.headersSent && !res.writableEnded) res.writeContinue();
      read.call(this, size);
    };
    server.emit('request', req, res);
  });
}
