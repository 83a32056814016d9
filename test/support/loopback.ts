// A dispatcher that reaches the emulator's .localhost names (ims.{region}.localhost, iam.localhost,
// {bucket}.obs.localhost) as imsync's own clients do.
import { Agent } from 'undici';
import { loopbackLookup } from '../../src/loopback.js';

export const loopback = new Agent({ connect: { lookup: loopbackLookup } });
