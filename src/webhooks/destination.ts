/**
 * Where a webhook may go. A partner's URL is checked when it is registered and again at every
 * attempt, and the check happens where the connection is made (the socket's DNS lookup), so a
 * name that resolved to a public address at registration and to 169.254.169.254 later (DNS
 * rebinding) is refused at the moment it would be used.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import type { LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';
import { MAX_URL_LENGTH } from '../services/validation.js';

export class DestinationRefused extends Error {
  override name = 'DestinationRefused';
}

/**
 * Only ordinary public unicast addresses pass: ipaddr.js names every other range (loopback,
 * private, linkLocal — which holds the 169.254.169.254 metadata service —, uniqueLocal,
 * carrierGradeNat, unspecified, multicast, reserved…). IPv4-mapped IPv6 is judged as IPv4.
 */
export function isPublicAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return false;
  return ipaddr.process(address).range() === 'unicast';
}

/** The URL's syntax and scheme; the address check is `checkResolvable` and the socket lookup. */
export function parseDestination(raw: string, options: { requireHttps: boolean }): URL {
  if (raw.length > MAX_URL_LENGTH) throw new DestinationRefused(`url must be at most ${MAX_URL_LENGTH} characters`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new DestinationRefused('url must be an absolute http(s) URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new DestinationRefused('url must be an absolute http(s) URL');
  if (options.requireHttps && url.protocol !== 'https:') throw new DestinationRefused('url must use https');
  if (url.username || url.password) throw new DestinationRefused('url must not carry credentials');
  return url;
}

function resolveAll(hostname: string): Promise<LookupAddress[]> {
  return new Promise((resolve, reject) => {
    dnsLookup(hostname, { all: true, verbatim: true }, (error, addresses) => (error ? reject(error) : resolve(addresses)));
  });
}

/** At registration: the name must resolve, and to public addresses only (unless private networks are allowed). */
export async function checkResolvable(url: URL, allowPrivate: boolean): Promise<void> {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  let addresses: LookupAddress[];
  try {
    addresses = await resolveAll(host);
  } catch {
    throw new DestinationRefused(`url host ${host} does not resolve`);
  }
  if (allowPrivate) return;
  const refused = addresses.find((entry) => !isPublicAddress(entry.address));
  if (refused) throw new DestinationRefused(`url resolves to a non-public address (${refused.address})`);
}

/**
 * The socket's lookup for deliveries: resolves like Node does, then refuses the connection when
 * any address is not public. Used as `lookup` of the HTTP request, so the address checked is the
 * address connected to.
 */
export function guardedLookup(allowPrivate: boolean): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, '', 0);
      const list = addresses as LookupAddress[];
      const refused = allowPrivate ? undefined : list.find((entry) => !isPublicAddress(entry.address));
      if (refused) {
        return callback(new DestinationRefused(`destination resolves to a non-public address (${refused.address})`), '', 0);
      }
      if (options.all) return (callback as (err: null, addresses: LookupAddress[]) => void)(null, list);
      const first = list[0];
      if (!first) return callback(new DestinationRefused(`${hostname} did not resolve`), '', 0);
      callback(null, first.address, first.family);
    });
  };
}
