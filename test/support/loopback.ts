// A dispatcher for the emulator's .localhost names (ims.{region}.localhost, iam.localhost,
// {bucket}.obs.localhost): names under .localhost are this machine (RFC 6761 §6.3), whatever the
// resolver here says of them.
import type { LookupFunction } from 'node:net';
import { Agent } from 'undici';

const toLoopback: LookupFunction = (_hostname, options, callback) => {
  if (options.all) callback(null, [{ address: '127.0.0.1', family: 4 }]);
  else callback(null, '127.0.0.1', 4);
};

export const loopback = new Agent({ connect: { lookup: toLoopback } });
