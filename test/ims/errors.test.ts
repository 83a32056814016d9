// How each transport failure is classified: could the request have had an effect, and is it worth sending again?
import { describe, expect, it } from 'vitest';
import { classifyTransportError } from '../../src/ims/errors.js';

const failure = (code: string, message = 'failed') => Object.assign(new Error(message), { code });
const retryOf = (codes: readonly string[]) =>
  Object.fromEntries(codes.map((code) => [code, classifyTransportError(failure(code)).retry]));

describe('classifyTransportError', () => {
  it('calls what was refused before a byte left "never", apart from what was never connected and what was sent', () => {
    const refusedBeforeSending = [
      'UND_ERR_INVALID_ARG',
      'ERR_INVALID_CHAR',
      'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
      'DEPTH_ZERO_SELF_SIGNED_CERT',
      'SELF_SIGNED_CERT_IN_CHAIN',
      'ERR_TLS_CERT_ALTNAME_INVALID',
      'CERT_HAS_EXPIRED',
    ];
    const neverConnected = ['ECONNREFUSED', 'UND_ERR_CONNECT_TIMEOUT'];
    const perhapsProcessed = ['ECONNRESET', 'UND_ERR_SOCKET'];
    expect(retryOf([...refusedBeforeSending, ...neverConnected, ...perhapsProcessed])).toEqual({
      ...Object.fromEntries(refusedBeforeSending.map((code) => [code, 'never'])),
      ...Object.fromEntries(neverConnected.map((code) => [code, 'safe'])),
      ...Object.fromEntries(perhapsProcessed.map((code) => [code, 'ambiguous'])),
    });
  });

  it('reads the code of the cause, as undici wraps some errors', () => {
    const error = Object.assign(new TypeError('fetch failed'), { cause: { code: 'CERT_HAS_EXPIRED' } });
    expect(classifyTransportError(error)).toMatchObject({ code: 'CERT_HAS_EXPIRED', retry: 'never' });
  });

  it("calls the request's deadline a timeout, which may have been processed", () => {
    const deadline = new DOMException('The operation was aborted due to timeout', 'TimeoutError');
    expect(classifyTransportError(deadline)).toMatchObject({ code: 'TIMEOUT', retry: 'ambiguous' });
  });
});
