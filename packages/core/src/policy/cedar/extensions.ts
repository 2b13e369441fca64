/**
 * Cedar's `decimal` and `ipaddr` extension types, following cedar-policy-core 4.x: decimals are 64-bit integers
 * scaled by 10^4; IP values keep their address and prefix (so `ip("10.0.0.1/24") != ip("10.0.0.0/24")`).
 */

/** A `decimal` value: the number times 10^4. */
export interface DecimalValue {
  readonly kind: 'decimal';
  readonly scaled: bigint;
}

/** An `ipaddr` value. `addr` is the 32- or 128-bit address as an unsigned integer. */
export interface IpValue {
  readonly kind: 'ip';
  readonly v6: boolean;
  readonly addr: bigint;
  readonly prefix: number;
  readonly text: string;
}

const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;
const DECIMAL_RE = /^(-?)([0-9]+)\.([0-9]+)$/;

/** Parses `decimal("…")`'s argument; returns an error message when cedar would fail. */
export function parseDecimal(s: string): DecimalValue | string {
  const m = DECIMAL_RE.exec(s);
  if (!m) return `\`${s}\` is not a well-formed decimal value`;
  const [, sign, whole, frac] = m as unknown as [string, string, string, string];
  if (frac.length > 4) return `too many digits after the decimal in \`${s}\``;
  const magnitude = BigInt(whole) * 10000n + BigInt(frac.padEnd(4, '0'));
  const scaled = sign === '-' ? -magnitude : magnitude;
  if (scaled < I64_MIN || scaled > I64_MAX) return 'overflow when converting to decimal';
  return { kind: 'decimal', scaled };
}

const V4_OCTET = /^(0|[1-9][0-9]{0,2})$/;
const V6_GROUP = /^[0-9a-fA-F]{1,4}$/;

function parseV4(s: string): bigint | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  let n = 0n;
  for (const p of parts) {
    if (!V4_OCTET.test(p)) return undefined;
    const x = Number(p);
    if (x > 255) return undefined;
    n = (n << 8n) | BigInt(x);
  }
  return n;
}

function parseV6Groups(s: string): bigint[] | undefined {
  if (s === '') return [];
  const groups = s.split(':');
  const out: bigint[] = [];
  for (const g of groups) {
    if (!V6_GROUP.test(g)) return undefined;
    out.push(BigInt(`0x${g}`));
  }
  return out;
}

// Rust's Ipv6Addr parser: hex groups of 1-4 digits, at most one `::`. (An IPv4 tail is never reachable here:
// cedar refuses any string with two colons and two dots first.)
function parseV6(s: string): bigint | undefined {
  const halves = s.split('::');
  let groups: bigint[];
  if (halves.length === 1) {
    const all = parseV6Groups(s);
    if (!all || all.length !== 8) return undefined;
    groups = all;
  } else if (halves.length === 2) {
    const head = parseV6Groups(halves[0] as string);
    const tail = parseV6Groups(halves[1] as string);
    if (!head || !tail || head.length + tail.length > 7) return undefined;
    groups = [...head, ...Array<bigint>(8 - head.length - tail.length).fill(0n), ...tail];
  } else return undefined;
  return groups.reduce((acc, g) => (acc << 16n) | g, 0n);
}

function parseAddr(s: string): { v6: boolean; addr: bigint } | undefined {
  const v4 = parseV4(s);
  if (v4 !== undefined) return { v6: false, addr: v4 };
  if (!s.includes(':')) return undefined;
  const v6 = parseV6(s);
  return v6 === undefined ? undefined : { v6: true, addr: v6 };
}

function countAtLeastTwo(s: string, c: string): boolean {
  const i = s.indexOf(c);
  return i >= 0 && s.indexOf(c, i + 1) >= 0;
}

/** Parses `ip("…")`'s argument; returns an error message when cedar would fail. */
export function parseIp(s: string): IpValue | string {
  if (Buffer.byteLength(s, 'utf8') > 43)
    return `error parsing IP address from string \`${s}\`: string length is too large`;
  if (countAtLeastTwo(s, ':') && countAtLeastTwo(s, '.'))
    return `We do not accept IPv4 embedded in IPv6: \`${s}\``;
  const slash = s.indexOf('/');
  const addrText = slash >= 0 ? s.slice(0, slash) : s;
  const parsed = parseAddr(addrText);
  if (!parsed) return `invalid IP address: ${s}`;
  let prefix = parsed.v6 ? 128 : 32;
  if (slash >= 0) {
    const p = s.slice(slash + 1);
    const max = parsed.v6 ? 128 : 32;
    if (p.length > (parsed.v6 ? 3 : 2) || !/^(0|[1-9][0-9]*)$/.test(p) || Number(p) > max) {
      return `error parsing prefix \`${p}\``;
    }
    prefix = Number(p);
  }
  return { kind: 'ip', v6: parsed.v6, addr: parsed.addr, prefix, text: s };
}

function bits(ip: IpValue): bigint {
  return ip.v6 ? 128n : 32n;
}

function range(ip: IpValue): [bigint, bigint] {
  const width = bits(ip);
  const all = (1n << width) - 1n;
  const host = all >> BigInt(ip.prefix);
  const net = ip.addr & (all ^ host);
  return [net, ip.addr | host];
}

/** `a.isInRange(b)`: every address of `a` lies in `b`; false across IPv4/IPv6. */
export function ipInRange(a: IpValue, b: IpValue): boolean {
  if (a.v6 !== b.v6) return false;
  const [aNet, aBroadcast] = range(a);
  const [bNet, bBroadcast] = range(b);
  return bNet <= aNet && aBroadcast <= bBroadcast;
}

/** `isLoopback()`: 127.0.0.0/8 with prefix ≥ 8, or exactly ::1/128. */
export function ipIsLoopback(ip: IpValue): boolean {
  if (ip.v6) return ip.addr === 1n && ip.prefix >= 128;
  return ip.addr >> 24n === 127n && ip.prefix >= 8;
}

/** `isMulticast()`: 224.0.0.0/4 with prefix ≥ 4, or ff00::/8 with prefix ≥ 8. */
export function ipIsMulticast(ip: IpValue): boolean {
  if (ip.v6) return ip.addr >> 120n === 0xffn && ip.prefix >= 8;
  return ip.addr >> 28n === 0xen && ip.prefix >= 4;
}
