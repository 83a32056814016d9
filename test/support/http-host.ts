import { request } from 'node:http';

/**
 * The status of GET `path` on 127.0.0.1:`port` with the header `Host: host`, which fetch does not
 * let a caller set: how a request reaches the daemon under another name (a DNS rebinding, a
 * Kubernetes Service name).
 */
export function getWithHost(port: number, path: string, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host }, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
    req.end();
  });
}
