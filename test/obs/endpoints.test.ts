// Where OBS is for a region, the override a user gives instead, and a bucket's host.
import { describe, expect, it } from 'vitest';
import { bucketNameProblem, bucketOrigin, obsEndpoint } from '../../src/obs/endpoints.js';
import { OriginError } from '../../src/origin.js';

describe('obsEndpoint', () => {
  it.each([
    ['cn-north-4', 'https://obs.cn-north-4.myhuaweicloud.com/'],
    ['ap-southeast-1', 'https://obs.ap-southeast-1.myhuaweicloud.com/'],
    ['my-kualalumpur-1', 'https://obs.my-kualalumpur-1.myhuaweicloud.com/'],
    ['eu-west-101', 'https://obs.eu-west-101.myhuaweicloud.eu/'],
    ['ae-ad-1', 'https://obs.ae-ad-1.g42cloud.com/'],
    ['tr-central-201', 'https://obs.tr-central-201.hc.vodafone.com.tr/'],
  ])('%s is at %s', (region, endpoint) => {
    expect(obsEndpoint(region).href).toBe(endpoint);
  });

  it('refuses a region name that would make another host', () => {
    expect(() => obsEndpoint('evil.example.com/x')).toThrow('is not a region name such as ap-southeast-1');
  });

  it('takes an override of scheme, host and port, whatever the region', () => {
    expect(obsEndpoint('eu-west-101', 'http://obs.localhost:8787').href).toBe('http://obs.localhost:8787/');
    expect(obsEndpoint('cn-north-4', 'https://OBS.Example.com/').href).toBe('https://obs.example.com/');
  });

  it.each([
    ['obs.cn-north-4.myhuaweicloud.com', 'is not a URL such as https://obs.ap-southeast-1.myhuaweicloud.com'],
    ['ftp://obs.example.com', 'must be an http(s) URL'],
    ['https://user:hunter2@obs.example.com', 'must not carry credentials; use HW_ACCESS_KEY and HW_SECRET_KEY'],
    ['https://obs.example.com/bucket', 'has a path (/bucket); OBS endpoints have none'],
    ['https://obs.example.com/?x=1', 'has a query; OBS endpoints have none'],
    ['https://obs.example.com?', 'has a query; OBS endpoints have none'],
    ['https://obs.example.com#top', 'has a fragment; OBS endpoints have none'],
    ['http://127.0.0.1:8787', 'is an IP address; buckets are addressed by name'],
    ['http://[::1]:8787', 'is an IP address; buckets are addressed by name'],
    [
      'https://ims-images.obs.cn-north-4.myhuaweicloud.com',
      'starts with a bucket name (ims-images.); give the regional endpoint without it',
    ],
  ])('refuses the override %s', (override, message) => {
    let error: unknown;
    try {
      obsEndpoint('cn-north-4', override);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(OriginError);
    expect((error as Error).message).toContain(message);
    expect((error as Error).message).not.toContain('hunter2');
  });
});

describe('bucketOrigin', () => {
  it("puts the bucket in front of the endpoint's host, keeping scheme and port", () => {
    expect(bucketOrigin(new URL('https://obs.cn-north-4.myhuaweicloud.com'), 'ims-images').href).toBe(
      'https://ims-images.obs.cn-north-4.myhuaweicloud.com/',
    );
    expect(bucketOrigin(new URL('http://obs.localhost:8787'), 'a.b-c').href).toBe('http://a.b-c.obs.localhost:8787/');
  });

  it('refuses a name that is no bucket name, which would make another host', () => {
    expect(() => bucketOrigin(new URL('https://obs.example.com'), 'evil.com:1/')).toThrow(
      '"evil.com:1/" is not an OBS bucket name',
    );
  });
});

describe('bucketNameProblem', () => {
  it.each(['abc', 'ims-images', 'a.b.c', '1bucket', 'x'.repeat(63)])('takes %s', (name) => {
    expect(bucketNameProblem(name)).toBeUndefined();
  });

  it.each([
    ['ab', '3 to 63 characters'],
    ['x'.repeat(64), '3 to 63 characters'],
    ['Images', 'lower-case letters'],
    ['ims_images', 'lower-case letters'],
    ['-images', 'starts and ends with a letter or digit'],
    ['images.', 'starts and ends with a letter or digit'],
    ['a..b', "no '..', '.-' or '-.'"],
    ['a.-b', "no '..', '.-' or '-.'"],
    ['a-.b', "no '..', '.-' or '-.'"],
    ['192.168.1.1', 'not an IP address'],
  ])('refuses %s', (name, problem) => {
    expect(bucketNameProblem(name)).toContain(problem);
  });
});
