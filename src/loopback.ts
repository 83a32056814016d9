// Names under .localhost are this machine (RFC 6761 §6.3), as browsers have them, whatever the
// resolver says: the emulator's hosts (ims.{region}.localhost, iam.localhost,
// {bucket}.obs.localhost) reach a server on this machine. Every other name is looked up as usual.
import { lookup as dnsLookup } from 'node:dns';
import type { LookupFunction } from 'node:net';

export const loopbackLookup: LookupFunction = (hostname, options, callback) => {
  if (!/(?:^|\.)localhost\.?$/i.test(hostname)) {
    dnsLookup(hostname, options, callback);
  } else if (options.all) {
    callback(null, [{ address: '127.0.0.1', family: 4 }]);
  } else {
    callback(null, '127.0.0.1', 4);
  }
};
