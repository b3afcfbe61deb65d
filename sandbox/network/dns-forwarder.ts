/**
 * The sandboxes' nameserver, as Docker's embedded DNS server: sandboxes on the bridge cannot
 * reach the host's resolver (it is on loopback, 127.0.0.53 with systemd-resolved, or at a private
 * address, and both are blocked ranges), so the host listens on the bridge's gateway address,
 * port 53, UDP and TCP, and relays each query as bytes to the servers of the host's resolv.conf.
 * It runs in the host's network namespace, where a loopback server is reachable.
 *
 * What keeps it from being an open resolver or a lever: only sources in the sandboxes' subnet are
 * answered (the gateway address is reachable from wherever the host is routable); nftables lets
 * only sandboxes with egress send to it (nftables.ts dns_allowed); a query is at most
 * MAX_QUERY_BYTES, at most `maxInFlight` are relayed at once (more are dropped: the stub resolver
 * retries), each upstream gets `timeoutMs`, and when every upstream failed the sandbox gets
 * SERVFAIL rather than a wait. Each relayed UDP query goes out from a fresh socket (a random
 * port) and only an answer with its ID, from the server it was sent to, is taken.
 *
 * Two warren processes sharing one bridge (`warren serve` and a `warren run --net`) both bind
 * the UDP port (SO_REUSEADDR: one of them gets each query, and either answers it alike); the
 * TCP port has one listener, so the later process waits and takes it over when it frees.
 */
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import { WarrenError, errnoOf } from '../../lib/errors.js';
import { contains, parseCidr, parseIpv4 } from './cidr.js';
import { answer, answers, isQuery, questionOf, servfail, TYPE_A } from './dns-message.js';
import { readNames } from './names.js';
import { MAX_NAMESERVERS, readResolvConf } from './resolv-conf.js';

/** Queries are small: a name is at most 255 bytes; EDNS options and TSIG fit well under this. */
export const MAX_QUERY_BYTES = 4096;
const DNS_PORT = 53;
const CLASS_IN = 1;
const TCP_IDLE_MS = 10_000;
const TCP_RETRY_MS = 2_000;
/** How often at most the host's resolv.conf is looked at for a change (a new network, a VPN). */
const RECHECK_MS = 1_000;

export interface DnsForwarderOptions {
  /** Where to listen: the bridge's gateway address. */
  address: string;
  /** Only queries from here are answered: the sandboxes' subnet. */
  subnet: string;
  /** The host's resolver configuration; its nameservers (the first three) are the upstreams. */
  resolvConf: string;
  /** 53; another in unit tests, which cannot bind it without root. */
  port?: number;
  /** 53; the upstreams' port, for unit tests. */
  upstreamPort?: number;
  /** per upstream and query; 2000 */
  timeoutMs?: number;
  /** queries relayed at once, UDP and TCP together; 256 */
  maxInFlight?: number;
  /** TCP connections at once; 64 (past it, a new one takes the oldest of the source holding the most) */
  maxConnections?: number;
  /** TCP connections at once from one address (one sandbox); 8 */
  maxConnectionsPerSource?: number;
  /**
   * A user network's server: the dir of its sandboxes' name records (names.ts), read on every
   * query, so a name comes and goes with its sandbox. Their names are answered here; another
   * name is relayed only for a sandbox whose record says so, never on an `internal` network,
   * and is NXDOMAIN otherwise. Names of other networks are in other dirs: never answered.
   */
  names?: { dir: string; internal: boolean };
}

export interface DnsStats {
  /** answered by an upstream */
  forwarded: number;
  /** answered here, from a user network's names (or NXDOMAIN: not relayed) */
  answered: number;
  /** answered SERVFAIL: every upstream failed, or there is none */
  failed: number;
  /** from outside the subnet: ignored */
  refused: number;
  /** not a query, too big, or over the in-flight bound: ignored */
  dropped: number;
}

type Opts = Required<Omit<DnsForwarderOptions, 'names'>> & Pick<DnsForwarderOptions, 'names'>;

export class DnsForwarder {
  readonly address: string;
  readonly port: number;
  readonly stats: DnsStats = { forwarded: 0, answered: 0, failed: 0, refused: 0, dropped: 0 };
  readonly #opts: Opts;
  readonly #subnet: ReturnType<typeof parseCidr>;
  readonly #udp: dgram.Socket;
  readonly #tcp: net.Server;
  readonly #conns = new Set<net.Socket>();
  /** what close() must abort: the upstream exchanges in flight */
  readonly #abort = new AbortController();
  #inFlight = 0;
  #upstreams: { key: string; servers: readonly string[]; checkedAt: number } = { key: '', servers: [], checkedAt: 0 };
  #tcpRetry: NodeJS.Timeout | undefined;
  #closed = false;

  private constructor(opts: Opts, udp: dgram.Socket) {
    this.#opts = opts;
    this.address = opts.address;
    this.port = opts.port;
    this.#subnet = parseCidr(opts.subnet);
    this.#udp = udp;
    udp.on('message', (msg, from) => void this.#onDatagram(msg, from.address, from.port));
    udp.on('error', () => {}); // a send to a sandbox gone meanwhile: its answer is lost, as over any network
    // a client may half-close after its queries (RFC 7766 §6.2.4): it still gets their answers
    this.#tcp = net.createServer({ allowHalfOpen: true }, (sock) => this.#onConnection(sock));
    this.#tcp.on('error', () => {}); // handled where it is listened on
  }

  static async start(options: DnsForwarderOptions): Promise<DnsForwarder> {
    const opts: Opts = { port: DNS_PORT, upstreamPort: DNS_PORT, timeoutMs: 2_000, maxInFlight: 256, maxConnections: 64, maxConnectionsPerSource: 8, ...options };
    parseIpv4(opts.address);
    const udp = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    try {
      await new Promise<void>((resolve, reject) => {
        udp.once('error', reject);
        udp.bind({ address: opts.address, port: opts.port }, () => {
          udp.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      udp.close();
      throw new WarrenError('WARREN_NET_DNS_LISTEN', `dns forwarder: listen on ${opts.address}:${opts.port}/udp: ${errnoOf(err) ?? String(err)}`, { cause: err });
    }
    const fwd = new DnsForwarder(opts, udp);
    await fwd.#listenTcp();
    return fwd;
  }

  /** Another warren's forwarder holding the TCP port is fine: retry until it frees. */
  async #listenTcp(): Promise<void> {
    const { address, port } = this.#opts;
    try {
      await new Promise<void>((resolve, reject) => {
        this.#tcp.once('error', reject);
        this.#tcp.listen({ host: address, port }, () => {
          this.#tcp.off('error', reject);
          if (this.#closed) this.#tcp.close(); // closed while a retry was listening
          resolve();
        });
      });
    } catch (err) {
      if (errnoOf(err) !== 'EADDRINUSE') {
        await this.close();
        throw new WarrenError('WARREN_NET_DNS_LISTEN', `dns forwarder: listen on ${address}:${port}/tcp: ${errnoOf(err) ?? String(err)}`, { cause: err });
      }
      if (this.#closed) return;
      this.#tcpRetry = setTimeout(() => void this.#listenTcp().catch(() => {}), TCP_RETRY_MS);
      this.#tcpRetry.unref();
    }
  }

  #fromSubnet(ip: string): boolean {
    try {
      return contains(this.#subnet, parseIpv4(ip));
    } catch {
      return false; // not IPv4 at all
    }
  }

  /** A query is taken when it is one, fits, and a slot is free; the caller then owns the slot. */
  #admit(from: string, query: Buffer): boolean {
    if (this.#closed) return false;
    if (!this.#fromSubnet(from)) {
      this.stats.refused++;
      return false;
    }
    if (!isQuery(query) || query.length > MAX_QUERY_BYTES || this.#inFlight >= this.#opts.maxInFlight) {
      this.stats.dropped++;
      return false;
    }
    this.#inFlight++;
    return true;
  }

  async #onDatagram(query: Buffer, from: string, port: number): Promise<void> {
    if (!this.#admit(from, query)) return;
    try {
      const answer = await this.#resolve(query, udpExchange, from);
      if (!this.#closed) this.#udp.send(answer, port, from);
    } finally {
      this.#inFlight--;
    }
  }

  /**
   * DNS over TCP (RFC 7766): each message has a 2-byte length before it. Queries on one
   * connection are answered one after another, in order; an idle connection is closed.
   */
  #onConnection(sock: net.Socket): void {
    // a cap per source too: one sandbox holding every connection would leave its neighbours no
    // DNS over TCP (the fallback for answers too big for UDP)
    const from = sock.remoteAddress ?? '';
    if (this.#closed || !this.#fromSubnet(from) || this.#connectionsFrom(from) >= this.#opts.maxConnectionsPerSource || !this.#roomFor(from)) {
      this.stats.refused++;
      sock.destroy();
      return;
    }
    this.#conns.add(sock);
    sock.on('close', () => this.#conns.delete(sock));
    sock.on('error', () => {});
    sock.setTimeout(TCP_IDLE_MS, () => sock.destroy());
    let pending = Buffer.alloc(0);
    let chain = Promise.resolve();
    sock.on('data', (data: Buffer) => {
      pending = Buffer.concat([pending, data]);
      while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
        const query = pending.subarray(2, 2 + pending.readUInt16BE(0));
        pending = pending.subarray(2 + query.length);
        chain = chain.then(() => this.#onStreamQuery(sock, Buffer.from(query)));
      }
      if (pending.length > 2 + MAX_QUERY_BYTES) sock.destroy(); // a query bigger than any we take
    });
    sock.on('end', () => void chain.then(() => sock.end()));
  }

  /**
   * At the total cap, a source with fewer connections than the one holding the most takes the
   * oldest of that one's: a few sandboxes together, each within its own share, could otherwise
   * hold every connection and leave the rest no DNS over TCP. False when no source holds more.
   */
  #roomFor(from: string): boolean {
    if (this.#conns.size < this.#opts.maxConnections) return true;
    const held = new Map<string, net.Socket[]>();
    for (const c of this.#conns) {
      const list = held.get(c.remoteAddress ?? '') ?? [];
      list.push(c);
      held.set(c.remoteAddress ?? '', list);
    }
    let most: net.Socket[] = [];
    for (const list of held.values()) if (list.length > most.length) most = list;
    if (most.length <= (held.get(from)?.length ?? 0) + 1) return false;
    const oldest = most[0] as net.Socket;
    this.#conns.delete(oldest);
    oldest.destroy();
    return true;
  }

  #connectionsFrom(address: string): number {
    let n = 0;
    for (const c of this.#conns) if (c.remoteAddress === address) n++;
    return n;
  }

  async #onStreamQuery(sock: net.Socket, query: Buffer): Promise<void> {
    if (sock.destroyed) return;
    if (!this.#admit(sock.remoteAddress ?? '', query)) {
      sock.destroy();
      return;
    }
    try {
      const answer = await this.#resolve(query, tcpExchange, sock.remoteAddress ?? '');
      if (!sock.destroyed) sock.write(framed(answer));
    } finally {
      this.#inFlight--;
    }
  }

  /** A network's own names first (user networks); then each upstream in turn until one
   * answers; SERVFAIL when none does. */
  async #resolve(query: Buffer, exchange: Exchange, from: string): Promise<Buffer> {
    const names = this.#opts.names;
    if (names) {
      const q = questionOf(query);
      const table = readNames(names.dir);
      const ips = q && q.klass === CLASS_IN ? table.byName.get(q.name) : undefined;
      if (q && ips) {
        this.stats.answered++;
        return answer(query, q.type === TYPE_A ? ips : []);
      }
      if (names.internal || table.relay.get(from) !== true) {
        this.stats.answered++;
        return q ? answer(query, undefined) : servfail(query);
      }
    }
    for (const server of this.#servers()) {
      if (this.#closed) break;
      try {
        const answer = await exchange(server, this.#opts.upstreamPort, query, this.#opts.timeoutMs, this.#abort.signal);
        this.stats.forwarded++;
        return answer;
      } catch {
        // timed out, refused or garbled: the next server, as a stub resolver would
      }
    }
    this.stats.failed++;
    return servfail(query);
  }

  /** The upstreams, re-read when the file changed (checked at most once per RECHECK_MS). */
  #servers(): readonly string[] {
    const now = Date.now();
    if (now - this.#upstreams.checkedAt < RECHECK_MS) return this.#upstreams.servers;
    const st = fs.statSync(this.#opts.resolvConf, { throwIfNoEntry: false });
    const key = st ? `${st.ino}:${st.size}:${st.mtimeMs}` : 'absent';
    if (key !== this.#upstreams.key) {
      // never itself: a query would go round until the in-flight bound stopped it
      const servers = readResolvConf(this.#opts.resolvConf).nameservers.filter((ip) => !this.#isSelf(ip)).slice(0, MAX_NAMESERVERS);
      this.#upstreams = { key, servers, checkedAt: now };
    }
    this.#upstreams.checkedAt = now;
    return this.#upstreams.servers;
  }

  #isSelf(ip: string): boolean {
    return ip === this.address && this.#opts.upstreamPort === this.port;
  }

  /** Stops listening and drops what is in flight (a sandbox's resolver retries). Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#tcpRetry);
    this.#abort.abort();
    for (const sock of this.#conns) sock.destroy();
    await Promise.all([
      new Promise<void>((resolve) => this.#udp.close(() => resolve())),
      new Promise<void>((resolve) => (this.#tcp.listening ? this.#tcp.close(() => resolve()) : resolve())),
    ]);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

type Exchange = (server: string, port: number, query: Buffer, timeoutMs: number, signal: AbortSignal) => Promise<Buffer>;
type Done = (err: Error | undefined, answer?: Buffer) => void;

/**
 * One exchange with a server: settles once, on `done`, on the timeout or when close() aborts;
 * `start` sends the query and returns what frees its socket.
 */
function exchangeOnce(server: string, timeoutMs: number, signal: AbortSignal, start: (done: Done) => () => void): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let settled = false;
    let free = () => {};
    const done: Done = (err, answer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      free();
      if (err) reject(err);
      else resolve(answer as Buffer);
    };
    const onAbort = () => done(new Error('closed'));
    const timer = setTimeout(() => done(new Error(`no answer from ${server} in ${timeoutMs} ms`)), timeoutMs);
    signal.addEventListener('abort', onAbort);
    free = start(done);
  });
}

/** One query over UDP from a fresh connected socket: the kernel drops what other hosts send it. */
const udpExchange: Exchange = (server, port, query, timeoutMs, signal) =>
  exchangeOnce(server, timeoutMs, signal, (done) => {
    const sock = dgram.createSocket(net.isIPv6(server.split('%')[0] as string) ? 'udp6' : 'udp4');
    sock.on('error', (err) => done(err));
    sock.on('message', (msg) => {
      if (answers(msg, query)) done(undefined, msg);
    });
    sock.connect(port, server, () => sock.send(query));
    return () => sock.close();
  });

/** One query over a fresh TCP connection; the answer is bounded by its 2-byte length. */
const tcpExchange: Exchange = (server, port, query, timeoutMs, signal) =>
  exchangeOnce(server, timeoutMs, signal, (done) => {
    const sock = net.connect({ host: server, port });
    let got = Buffer.alloc(0);
    sock.on('error', (err) => done(err));
    sock.on('close', () => done(new Error(`${server} closed the connection`)));
    sock.on('data', (data: Buffer) => {
      got = Buffer.concat([got, data]);
      if (got.length < 2 || got.length < 2 + got.readUInt16BE(0)) return;
      const answer = got.subarray(2, 2 + got.readUInt16BE(0));
      done(answers(answer, query) ? undefined : new Error(`${server} answered another query`), answer);
    });
    sock.write(framed(query));
    return () => sock.destroy();
  });

/** A message as DNS over TCP sends it: its 2-byte length first. */
function framed(msg: Buffer): Buffer {
  const len = Buffer.alloc(2);
  len.writeUInt16BE(msg.length);
  return Buffer.concat([len, msg]);
}
